// The list of keys (label search, status, leak and unused-authorization filters, paging, each
// key's requests of the last 24 hours) and the dialog that adds a key.
import {
  t, h, formatDate, formatNumber, api, fail, helpLinks, sectionTabs, statusBadge, dialog, showSecret, isRefusal,
} from "./core.js";
import { expiryField, expiryPolicy } from "./expiry.js";
import { leakFlag } from "./leaks.js";
import { limitFields } from "./limits.js";

async function addKeyDialog() {
  const error = h("p", { class: "error", id: "label-error", role: "alert" });
  const input = h("input", { type: "text", id: "label", name: "label", required: true, maxlength: 200, autocomplete: "off", "aria-describedby": "label-help label-error" });
  const expiry = expiryField(await expiryPolicy());
  const limits = limitFields(null);
  let d;
  const form = h("form", {
    novalidate: true, // our own message, in the page's language, read by screen readers
    onsubmit: async (e) => {
      e.preventDefault();
      const label = input.value.trim();
      error.textContent = "";
      if (!label) { error.textContent = t("labelRequired"); input.focus(); return; }
      const expires = expiry.value();
      if (!expires) return;
      const changes = limits.changes();
      if (!changes) return;
      try {
        const created = await api("POST", "/keys", { label, ...(expires.expires_at ? expires : {}), ...changes });
        d.close();
        showSecret(created.key, () => { location.hash = `#/keys/${created.id}`; });
      } catch (err) {
        if (!isRefusal(err)) { d.close(); fail(err); } else if (!expiry.showRefusal(err) && !limits.showRefusal(err)) { error.textContent = err.message; input.focus(); }
      }
    },
  },
  h("label", { for: "label" }, t("labelField")), input,
  h("p", { class: "muted", id: "label-help" }, t("labelHelp")), error,
  expiry.element,
  h("details", {}, h("summary", {}, t("limitsOptional")), limits.element),
  h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, t("save")), h("button", { type: "button", onclick: () => d.close() }, t("cancel"))));
  d = dialog(t("addTitle"), form);
  input.focus();
}

export async function listView() {
  const search = h("input", { type: "search", id: "q", name: "q", autocomplete: "off" });
  const status = h("select", { id: "status-filter" },
    h("option", { value: "" }, t("all")), h("option", { value: "active" }, t("actives")), h("option", { value: "inactive" }, t("inactives")),
    h("option", { value: "leaked" }, t("leakedFilter")));
  const unused = h("input", { type: "checkbox", id: "unused-filter" });
  const tbody = h("tbody");
  const table = h("table", {}, h("thead", {}, h("tr", {},
    [t("colLabel"), t("colKey"), t("colStatus"), t("colCreated"), t("colLastUsed"), t("colExpires")].map((c) => h("th", { scope: "col" }, c)),
    h("th", { scope: "col", class: "num" }, t("colRequests")))), tbody);
  const empty = h("div", { class: "panel empty", hidden: true });
  const more = h("button", { type: "button", hidden: true }, t("more"));
  let cursor = null;

  async function load(reset, initial = false) {
    const params = new URLSearchParams({ limit: "25" });
    if (search.value.trim()) params.set("q", search.value.trim());
    if (status.value === "leaked") params.set("leaked", "true");
    else if (status.value) params.set("status", status.value);
    if (unused.checked) params.set("unused_grants", "true");
    if (!reset && cursor) params.set("cursor", cursor);
    try {
      const page = await api("GET", `/keys?${params}`);
      if (reset) tbody.replaceChildren();
      for (const key of page.data) {
        tbody.append(h("tr", {},
          h("td", { "data-label": t("colLabel") }, h("a", { href: `#/keys/${key.id}` }, key.label)),
          h("td", { "data-label": t("colKey"), class: "mono" }, key.hint),
          h("td", { "data-label": t("colStatus") }, statusBadge(key.status, t(key.status)), leakFlag(key)),
          h("td", { "data-label": t("colCreated") }, formatDate(key.created_at), h("br"), h("span", { class: "muted" }, t("by", { name: key.created_by.name || key.created_by.id }))),
          h("td", { "data-label": t("colLastUsed") }, formatDate(key.last_used_at) || t("never")),
          h("td", { "data-label": t("colExpires") }, formatDate(key.expires_at) || t("none")),
          h("td", { "data-label": t("colRequests"), class: "num" }, formatNumber(key.requests_24h))));
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const none = tbody.children.length === 0;
      table.hidden = none;
      empty.hidden = !none;
      const filtered = search.value.trim() || status.value || unused.checked;
      empty.replaceChildren(...(filtered ? [h("p", {}, t("noMatch"))] : [h("h2", {}, t("emptyTitle")), h("p", {}, t("emptyText"))]));
    } catch (err) {
      if (initial) throw err; // the first load decides the page: sign-in, refusal or list
      fail(err);
    }
  }

  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load(true), 250); });
  status.addEventListener("change", () => load(true));
  unused.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));

  const view = h("section", {},
    h("h1", {}, t("title")),
    helpLinks(),
    sectionTabs("keys"),
    h("div", { class: "toolbar" },
      h("div", { class: "grow" }, h("label", { for: "q" }, t("search")), search),
      h("div", {}, h("label", { for: "status-filter" }, t("statusFilter")), status),
      h("button", { class: "primary", type: "button", onclick: addKeyDialog }, t("add"))),
    h("div", { class: "filters" }, h("label", { class: "toggle", for: "unused-filter" }, unused, t("unusedFilter"))),
    table, empty, h("p", {}, more));
  await load(true, true);
  return view;
}

