// A key's page: its facts and lifecycle actions (regenerate, expiry, deactivate or reactivate,
// delete), then its usage, limits, permissions, access review and history.
import {
  t, h, formatDate, formatNumber, announce, ApiError, api, fail, statusBadge, dialog, showSecret, readHealth, redraw,
} from "./core.js";
import { expiryDialog } from "./expiry.js";
import { leakBanner, leakFlag, reporterName } from "./leaks.js";
import { describeAllowlist, describeQuota, describeRate, limitsPanel } from "./limits.js";
import { companiesPanel, loadCatalog, methodsPanel } from "./permissions.js";
import { reviewPanel } from "./review.js";
import { usagePanel } from "./usage.js";

function describeChanges(event) {
  if (event.type === "leak_reported") {
    const c = event.changes;
    const action = c.action && t(`leakActions.${c.action}`);
    // A public report's source (`public_report`) says nothing its reporter's name does not.
    const source = c.scanner === "public" ? null : c.source;
    return [reporterName(c.scanner), c.url, source, action].filter(Boolean).join(" · ");
  }
  return Object.entries(event.changes || {}).filter(([, v]) => v && typeof v === "object" && "to" in v)
    .map(([field, v]) => {
      const limit = LIMIT_WORDS[field];
      return limit ? t("limitChange", { field: t(limit.name), from: limit.describe(v.from), to: limit.describe(v.to) })
        : `${field}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`;
    }).join(" · ");
}

/** How the history tells a change of each usage limit. */
const LIMIT_WORDS = {
  rate_limit: { name: "facts.rateLimit", describe: describeRate },
  quota: { name: "facts.quota", describe: describeQuota },
  ip_allowlist: { name: "facts.ipAllowlist", describe: (list) => (list.length ? list.join(", ") : t("ipAny")) },
};

async function historyPanel(key) {
  const list = h("ul", { class: "events" });
  const events = await api("GET", `/keys/${key.id}/events?limit=50`);
  for (const e of events.data) {
    list.append(h("li", {}, h("strong", {}, t(`events.${e.type}`)), " — ", formatDate(e.at), " — ",
      t("by", { name: e.actor.name || e.actor.id }), h("br"), h("span", { class: "muted" }, describeChanges(e))));
  }
  return h("section", { class: "panel", id: "history" }, h("h2", {}, t("historyTitle")), list);
}

function regenerateDialog(key) {
  const select = h("select", { id: "grace" },
    h("option", { value: "0" }, t("graceNone")), h("option", { value: "3600" }, t("grace1h")),
    h("option", { value: "86400" }, t("grace24h")), h("option", { value: "604800" }, t("grace7d")));
  let d;
  d = dialog(t("regenTitle"), h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const body = select.value === "0" ? undefined : { grace_period_seconds: Number(select.value) };
        const result = await api("POST", `/keys/${key.id}/regenerate`, body);
        d.close();
        showSecret(result.key, redraw);
      } catch (err) { d.close(); fail(err); }
    },
  }, h("p", { class: "warning" }, t("regenText")), h("label", { for: "grace" }, t("grace")), select,
  h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, t("regenerate")), h("button", { type: "button", onclick: () => d.close() }, t("cancel")))));
  select.focus();
}

function deleteDialog(key) {
  const input = h("input", { type: "text", id: "confirm-label", autocomplete: "off" });
  const confirm = h("button", { class: "danger", type: "submit", disabled: true }, t("delete"));
  input.addEventListener("input", () => { confirm.disabled = input.value.trim() !== key.label; });
  let d;
  d = dialog(t("deleteTitle"), h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      if (input.value.trim() !== key.label) return;
      try {
        await api("DELETE", `/keys/${key.id}`);
        d.close();
        announce(t("deleted"));
        location.hash = "#/";
      } catch (err) { d.close(); fail(err); }
    },
  }, h("p", { class: "warning" }, t("deleteText")), h("label", { for: "confirm-label" }, t("deleteConfirm", { label: key.label })), input,
  h("p", { class: "actions" }, confirm, h("button", { type: "button", onclick: () => d.close() }, t("cancel")))));
  input.focus();
}

/** How long an access change may take to reach the edges, in ms: the deployment's
 *  `verify_cache_ms` from the health route (0 when it is off or cannot be read). */
async function propagationBound() {
  const health = await readHealth();
  return Number.isInteger(health.verify_cache_ms) ? health.verify_cache_ms : 0;
}

/** The key's facts and its lifecycle actions; with an edge record cache, how long the
 *  actions take to reach every edge. */
function factsPanel(key, boundMs) {
  const toggleStatus = async () => {
    try {
      const action = key.status === "active" ? "deactivate" : "activate";
      await api("POST", `/keys/${key.id}/${action}`);
      announce(t(action === "deactivate" ? "deactivated" : "activated"));
      await redraw();
    } catch (err) { fail(err); }
  };
  const f = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  return h("div", { class: "panel" },
    h("dl", { class: "facts" },
      f(t("facts.hint"), h("span", { class: "mono" }, key.hint)),
      f(t("facts.status"), [statusBadge(key.status, t(key.status)), ...(leakFlag(key) || [])]),
      f(t("facts.created"), [formatDate(key.created_at), " ", t("by", { name: key.created_by.name || key.created_by.id })]),
      f(t("facts.lastUsed"), formatDate(key.last_used_at) || t("never")),
      f(t("facts.expires"), formatDate(key.expires_at) || t("none")),
      f(t("facts.rateLimit"), describeRate(key.rate_limit)),
      f(t("facts.quota"), describeQuota(key.quota)),
      f(t("facts.ipAllowlist"), describeAllowlist(key.ip_allowlist))),
    h("p", { class: "actions" },
      h("button", { type: "button", onclick: () => regenerateDialog(key) }, t("regenerate")),
      h("button", { type: "button", onclick: () => expiryDialog(key, redraw) }, t("expiry.edit")),
      // A reported secret is published: the server refuses to reactivate it (409
      // leaked_secret) until a regeneration replaces it, so the screen offers that instead.
      key.leak && key.leak.live_secret !== false && key.status !== "active"
        ? h("span", { class: "muted" }, t("leakedReactivate"))
        : h("button", { type: "button", onclick: toggleStatus }, t(key.status === "active" ? "deactivate" : "activate")),
      h("button", { type: "button", class: "danger", onclick: () => deleteDialog(key) }, t("delete"))),
    ...(boundMs > 0 ? [h("p", { class: "muted", id: "propagation" }, t("propagation", { ms: formatNumber(boundMs) }))] : []));
}

export async function detailView(id) {
  let key;
  try { key = await api("GET", `/keys/${encodeURIComponent(id)}`); } catch (err) {
    if (err instanceof ApiError && err.status === 404) return h("section", { class: "panel" }, h("h1", {}, t("notFound")), h("p", {}, h("a", { href: "#/" }, t("back"))));
    throw err;
  }
  const [catalog, boundMs] = await Promise.all([loadCatalog(), propagationBound()]);
  const permissions = { methods: key.methods, companies: key.companies };
  const review = reviewPanel(key, catalog);
  const permissionsHost = h("div", {});
  const showPermissions = (shown) => {
    permissionsHost.replaceChildren(methodsPanel(key, shown, catalog, permissionsSaved), companiesPanel(key, shown, permissionsSaved));
  };
  // The review compares the usage with the permissions: a change made here is read again there.
  const permissionsSaved = (updated) => {
    showPermissions(updated);
    review.load();
  };
  showPermissions(permissions);

  // The facts and the limits form show the key as the server last answered it.
  const factsHost = h("div", {});
  const limitsHost = h("div", {});
  const showKey = (shown) => {
    factsHost.replaceChildren(factsPanel(shown, boundMs));
    limitsHost.replaceChildren(limitsPanel(shown, limitsSaved));
  };
  const limitsSaved = (updated) => {
    showKey(updated);
    document.getElementById("limits-save").focus();
  };
  showKey(key);

  return h("section", {},
    h("p", {}, h("a", { href: "#/" }, "← ", t("back"))),
    h("h1", {}, key.label),
    ...(key.leak ? [leakBanner(key.leak)] : []),
    factsHost,
    usagePanel(key),
    limitsHost,
    h("h2", {}, t("permissionsTitle")),
    permissionsHost,
    review.element,
    await historyPanel(key));
}

