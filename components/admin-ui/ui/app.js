// The "APIs externes" screen: plain DOM code, no framework, no inline script (strict CSP).
// The identity token lives in memory only: read once from the URL fragment (#token=…) or
// pasted on the sign-in form; never written to localStorage, sessionStorage or a cookie.
import { TEXTS } from "./i18n.js";

const API = "/api/v1";
const LANG_KEY = "ingeneo.api-keys.lang"; // the language choice is the only thing stored

const state = { token: null, lang: "fr", config: null, catalog: null };

// ---------- helpers ----------

function t(key, vars = {}) {
  const value = key.split(".").reduce((o, k) => (o ? o[k] : undefined), TEXTS[state.lang]);
  if (typeof value !== "string") return value ?? key;
  return value.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Builds an element: h("button", {class: "primary", onclick}, "text", child…). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function formatDate(value) {
  if (!value) return null;
  return new Intl.DateTimeFormat(state.lang === "fr" ? "fr-FR" : "en-GB", { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(value));
}

function announce(message, isError = false) {
  const status = document.getElementById("status");
  status.classList.toggle("error-status", isError);
  status.textContent = "";
  // A fresh text node so screen readers announce repeated messages too.
  setTimeout(() => { status.textContent = message; }, 20);
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { status.textContent = ""; }, 6000);
}

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    Object.assign(this, { status, code });
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.code, data?.detail);
  return data;
}

/** Shows an API error in words; 401 and 403 change page. */
function fail(error) {
  if (error instanceof ApiError && error.status === 401) return signOut(t("expired"));
  if (error instanceof ApiError && error.status === 403) return render(forbiddenView());
  if (error instanceof ApiError && error.status === 503) return announce(t("storeDown"), true);
  announce(t("errorPrefix") + (error.message || String(error)), true);
}

function render(view) {
  const main = document.getElementById("main");
  main.replaceChildren(view);
}

function focusHeading() {
  const heading = document.querySelector("main h1");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
}

// ---------- chrome ----------

function chrome() {
  document.documentElement.lang = state.lang;
  document.title = t("pageTitle");
  document.querySelector(".skip").textContent = t("skip");
  document.getElementById("lang-label").textContent = t("language");
  document.getElementById("lang").value = state.lang;
  const out = document.getElementById("sign-out");
  out.textContent = t("signOut");
  out.hidden = !state.token;
  const items = t("crumbs");
  document.getElementById("crumbs").replaceChildren(
    h("ol", {}, items.map((item, i) => h("li", i === items.length - 1 ? { "aria-current": "page" } : {}, item))));
}

function helpLinks() {
  const config = state.config || { developer_docs_url: "/api/v1/openapi.json", sso_docs_url: "/sso.html" };
  return h("p", { class: "help" },
    h("a", { href: config.developer_docs_url, rel: "noopener" }, t("devDocs")),
    h("a", { href: config.sso_docs_url, rel: "noopener" }, t("ssoDocs")));
}

// ---------- sign-in and refusal ----------

function signInView(message) {
  const error = h("p", { class: "error", id: "token-error", role: "alert" }, message || "");
  const input = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-error" });
  return h("section", { class: "panel" },
    h("h1", {}, t("signInTitle")),
    h("p", {}, t("signInIntro")),
    h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) { error.textContent = t("tokenEmpty"); input.focus(); return; }
        state.token = token;
        route();
      },
    }, h("label", { for: "token" }, t("tokenLabel")), input, h("p", {}, h("button", { class: "primary", type: "submit" }, t("signIn")))),
    helpLinks());
}

function forbiddenView() {
  return h("section", { class: "panel" }, h("h1", {}, t("forbiddenTitle")), h("p", {}, t("forbiddenText")), helpLinks());
}

function signOut(message) {
  state.token = null;
  state.catalog = null;
  chrome();
  render(signInView(message));
  focusHeading();
}

// ---------- dialogs ----------

function dialog(title, body, onClose) {
  const d = h("dialog", { "aria-labelledby": "dialog-title" }, h("h2", { id: "dialog-title" }, title), body);
  d.addEventListener("close", () => { d.remove(); onClose?.(); });
  document.body.append(d);
  d.showModal();
  return d;
}

function showSecret(secret, then) {
  const input = h("input", { type: "text", id: "secret", readonly: true, value: secret, class: "mono", "aria-describedby": "secret-warning" });
  const copy = h("button", {
    type: "button", class: "primary",
    onclick: async () => {
      try { await navigator.clipboard.writeText(secret); announce(t("copied")); } catch { input.select(); announce(t("copyFailed"), true); }
    },
  }, t("copy"));
  const d = dialog(t("secretTitle"), h("form", { method: "dialog" },
    h("p", { class: "warning", id: "secret-warning" }, t("secretWarning")),
    h("label", { for: "secret" }, t("secretLabel")),
    h("div", { class: "secret" }, input, copy),
    h("p", { class: "actions" }, h("button", { type: "submit" }, t("secretDone")))), then);
  input.select();
  return d;
}

function addKeyDialog() {
  const error = h("p", { class: "error", id: "label-error", role: "alert" });
  const input = h("input", { type: "text", id: "label", name: "label", required: true, maxlength: 200, autocomplete: "off", "aria-describedby": "label-help label-error" });
  let d;
  const form = h("form", {
    novalidate: true, // our own message, in the page's language, read by screen readers
    onsubmit: async (e) => {
      e.preventDefault();
      const label = input.value.trim();
      if (!label) { error.textContent = t("labelRequired"); input.focus(); return; }
      try {
        const created = await api("POST", "/keys", { label });
        d.close();
        showSecret(created.key, () => { location.hash = `#/keys/${created.id}`; });
      } catch (err) {
        if (err instanceof ApiError && (err.status === 422 || err.status === 400)) { error.textContent = err.message; input.focus(); } else { d.close(); fail(err); }
      }
    },
  },
  h("label", { for: "label" }, t("labelField")), input,
  h("p", { class: "muted", id: "label-help" }, t("labelHelp")), error,
  h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, t("save")), h("button", { type: "button", onclick: () => d.close() }, t("cancel"))));
  d = dialog(t("addTitle"), form);
  input.focus();
}

// ---------- key list ----------

function badge(status) {
  return h("span", { class: `badge ${status}` }, t(status));
}

/** The flag of a key a secret scanner reported as leaked (nothing otherwise). */
function leakFlag(key) {
  return key.leak ? [" ", h("span", { class: "badge leaked" }, t("leakFlag"))] : null;
}

const SCANNERS = { github: "GitHub", gitlab: "GitLab" };

/** The "Fuite signalée" banner of a leaked key: who found it, when, and where (a link only
 *  for http(s) addresses). */
function leakBanner(leak) {
  const url = leak.url && /^https?:\/\//i.test(leak.url) ? leak.url : null;
  return h("div", { class: "panel leak", role: "alert" },
    h("h2", {}, t("leakTitle")),
    h("p", {}, t("leakText", { scanner: SCANNERS[leak.scanner] || leak.scanner, date: formatDate(leak.reported_at) })),
    url ? h("p", {}, h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, t("leakWhere")), " ", h("span", { class: "mono muted" }, url))
      : leak.url ? h("p", { class: "mono muted" }, leak.url) : null,
    h("p", {}, t("leakAdvice")));
}

async function listView() {
  const search = h("input", { type: "search", id: "q", name: "q", autocomplete: "off" });
  const status = h("select", { id: "status-filter" },
    h("option", { value: "" }, t("all")), h("option", { value: "active" }, t("actives")), h("option", { value: "inactive" }, t("inactives")),
    h("option", { value: "leaked" }, t("leakedFilter")));
  const tbody = h("tbody");
  const table = h("table", {}, h("thead", {}, h("tr", {},
    [t("colLabel"), t("colKey"), t("colStatus"), t("colCreated"), t("colLastUsed"), t("colExpires")].map((c) => h("th", { scope: "col" }, c)))), tbody);
  const empty = h("div", { class: "panel empty", hidden: true });
  const more = h("button", { type: "button", hidden: true }, t("more"));
  let cursor = null;

  async function load(reset, initial = false) {
    const params = new URLSearchParams({ limit: "25" });
    if (search.value.trim()) params.set("q", search.value.trim());
    if (status.value === "leaked") params.set("leaked", "true");
    else if (status.value) params.set("status", status.value);
    if (!reset && cursor) params.set("cursor", cursor);
    try {
      const page = await api("GET", `/keys?${params}`);
      if (reset) tbody.replaceChildren();
      for (const key of page.data) {
        tbody.append(h("tr", {},
          h("td", { "data-label": t("colLabel") }, h("a", { href: `#/keys/${key.id}` }, key.label)),
          h("td", { "data-label": t("colKey"), class: "mono" }, key.hint),
          h("td", { "data-label": t("colStatus") }, badge(key.status), leakFlag(key)),
          h("td", { "data-label": t("colCreated") }, formatDate(key.created_at), h("br"), h("span", { class: "muted" }, t("by", { name: key.created_by.name || key.created_by.id }))),
          h("td", { "data-label": t("colLastUsed") }, formatDate(key.last_used_at) || t("never")),
          h("td", { "data-label": t("colExpires") }, formatDate(key.expires_at) || t("none"))));
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const none = tbody.children.length === 0;
      table.hidden = none;
      empty.hidden = !none;
      const filtered = search.value.trim() || status.value;
      empty.replaceChildren(...(filtered ? [h("p", {}, t("noMatch"))] : [h("h2", {}, t("emptyTitle")), h("p", {}, t("emptyText"))]));
    } catch (err) {
      if (initial) throw err; // the first load decides the page: sign-in, refusal or list
      fail(err);
    }
  }

  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load(true), 250); });
  status.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));

  const view = h("section", {},
    h("h1", {}, t("title")),
    helpLinks(),
    h("div", { class: "toolbar" },
      h("div", { class: "grow" }, h("label", { for: "q" }, t("search")), search),
      h("div", {}, h("label", { for: "status-filter" }, t("statusFilter")), status),
      h("button", { class: "primary", type: "button", onclick: addKeyDialog }, t("add"))),
    table, empty, h("p", {}, more));
  await load(true, true);
  return view;
}

// ---------- key detail ----------

async function loadCatalog() {
  if (!state.catalog) state.catalog = (await api("GET", "/methods")).data;
  return state.catalog;
}

function methodsPanel(key, permissions, catalog, refresh) {
  const grants = new Set(permissions.methods);
  const groups = new Map();
  for (const m of catalog) { if (!groups.has(m.group)) groups.set(m.group, []); groups.get(m.group).push(m); }

  async function patch(body) {
    try {
      const updated = await api("PATCH", `/keys/${key.id}/permissions`, body);
      announce(t("saved"));
      refresh(updated);
    } catch (err) { fail(err); refresh(permissions); }
  }
  const toggle = (id, label, grant, { checked, disabled, group }) => h("label", { class: group ? "toggle group" : "toggle", for: id },
    h("input", {
      type: "checkbox", role: "switch", id, checked, disabled, dataset: { grant },
      onchange: (e) => patch(e.target.checked ? { add_methods: [grant] } : { remove_methods: [grant] }),
    }), label);

  const all = grants.has("*");
  const panel = h("div", { class: "panel", id: "methods" }, h("h2", {}, t("methodsTitle")), h("p", { class: "muted" }, t("methodsHelp")),
    toggle("grant-all", t("allMethods"), "*", { checked: all, group: true }));
  for (const [group, methods] of groups) {
    const groupGrant = `${group}.*`;
    const whole = all || grants.has(groupGrant);
    panel.append(h("fieldset", {}, h("legend", {}, group),
      toggle(`grant-${group}`, t("allOfGroup", { group }), groupGrant, { checked: grants.has(groupGrant), disabled: all, group: true }),
      methods.map((m) => toggle(`grant-${m.name.replaceAll(".", "-")}`,
        [m.label[state.lang] || m.label.fr, " ", h("code", { class: "muted" }, m.name)], m.name,
        { checked: whole || grants.has(m.name), disabled: whole }))));
  }
  return panel;
}

function companiesPanel(key, permissions, refresh) {
  let chosen = new Set(Array.isArray(permissions.companies) ? permissions.companies : []);
  const allRadio = h("input", { type: "radio", name: "scope", id: "scope-all", value: "all", checked: permissions.companies === "all" });
  const someRadio = h("input", { type: "radio", name: "scope", id: "scope-some", value: "some", checked: permissions.companies !== "all" });
  const search = h("input", { type: "search", id: "company-q", autocomplete: "off" });
  const list = h("div", { class: "picklist", role: "group", "aria-label": t("companiesTitle") });
  const chips = h("ul", { class: "chips", "aria-label": t("selected") });
  const picker = h("div", {}, h("label", { for: "company-q" }, t("companiesSearch")), search, list, chips);

  function drawChips() {
    chips.replaceChildren(...[...chosen].sort().map((c) => h("li", {}, c)));
    if (chosen.size === 0) chips.replaceChildren(h("li", {}, t("companiesNone")));
  }
  async function loadCompanies() {
    const params = new URLSearchParams({ limit: "100" });
    if (search.value.trim()) params.set("q", search.value.trim());
    try {
      const page = await api("GET", `/companies?${params}`);
      list.replaceChildren(...page.data.map((c) => h("label", { class: "toggle", for: `company-${c.id}` },
        h("input", { type: "checkbox", id: `company-${c.id}`, value: c.id, checked: chosen.has(c.id),
          onchange: (e) => { if (e.target.checked) chosen.add(c.id); else chosen.delete(c.id); drawChips(); } }),
        c.name, " ", h("code", { class: "muted" }, c.id))));
      if (page.data.length === 0) list.replaceChildren(h("p", { class: "muted" }, t("companiesEmpty")));
    } catch (err) { fail(err); }
  }
  const syncPicker = () => { picker.hidden = allRadio.checked; };
  allRadio.addEventListener("change", syncPicker);
  someRadio.addEventListener("change", syncPicker);
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(loadCompanies, 250); });
  syncPicker();
  drawChips();
  loadCompanies();

  const save = h("button", {
    type: "submit", class: "primary",
  }, t("companiesSave"));
  return h("form", {
    class: "panel", id: "companies",
    onsubmit: async (e) => {
      e.preventDefault();
      const companies = allRadio.checked ? "all" : [...chosen];
      try {
        const updated = await api("PATCH", `/keys/${key.id}/permissions`, { companies });
        announce(t("saved"));
        refresh(updated);
      } catch (err) { fail(err); }
    },
  }, h("h2", {}, t("companiesTitle")),
  h("fieldset", {}, h("legend", { class: "sr-only" }, t("companiesTitle")),
    h("label", { class: "toggle", for: "scope-all" }, allRadio, t("companiesAll")),
    h("label", { class: "toggle", for: "scope-some" }, someRadio, t("companiesSome"))),
  picker, h("p", {}, save));
}

function describeChanges(event) {
  if (event.type === "leak_reported") {
    const c = event.changes;
    const action = c.action && t(`leakActions.${c.action}`);
    return [SCANNERS[c.scanner] || c.scanner, c.url, c.source, action].filter(Boolean).join(" · ");
  }
  return Object.entries(event.changes || {}).filter(([, v]) => v && typeof v === "object" && "to" in v)
    .map(([field, v]) => `${field}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`).join(" · ");
}

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
        showSecret(result.key, route);
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

async function detailView(id) {
  let key;
  try { key = await api("GET", `/keys/${encodeURIComponent(id)}`); } catch (err) {
    if (err instanceof ApiError && err.status === 404) return h("section", { class: "panel" }, h("h1", {}, t("notFound")), h("p", {}, h("a", { href: "#/" }, t("back"))));
    throw err;
  }
  const catalog = await loadCatalog();
  const permissions = { methods: key.methods, companies: key.companies };
  const section = h("section", {});
  const permissionsHost = h("div", {});

  const refreshPermissions = (updated) => {
    permissionsHost.replaceChildren(methodsPanel(key, updated, catalog, refreshPermissions), companiesPanel(key, updated, refreshPermissions));
  };
  refreshPermissions(permissions);

  const toggleStatus = async () => {
    try {
      const action = key.status === "active" ? "deactivate" : "activate";
      await api("POST", `/keys/${key.id}/${action}`);
      announce(t(action === "deactivate" ? "deactivated" : "activated"));
      await route();
    } catch (err) { fail(err); }
  };
  const f = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  section.append(
    h("p", {}, h("a", { href: "#/" }, "← ", t("back"))),
    h("h1", {}, key.label),
    ...(key.leak ? [leakBanner(key.leak)] : []),
    h("div", { class: "panel" },
      h("dl", { class: "facts" },
        f(t("facts.hint"), h("span", { class: "mono" }, key.hint)),
        f(t("facts.status"), [badge(key.status), ...(leakFlag(key) || [])]),
        f(t("facts.created"), [formatDate(key.created_at), " ", t("by", { name: key.created_by.name || key.created_by.id })]),
        f(t("facts.lastUsed"), formatDate(key.last_used_at) || t("never")),
        f(t("facts.expires"), formatDate(key.expires_at) || t("none"))),
      h("p", { class: "actions" },
        h("button", { type: "button", onclick: () => regenerateDialog(key) }, t("regenerate")),
        h("button", { type: "button", onclick: toggleStatus }, t(key.status === "active" ? "deactivate" : "activate")),
        h("button", { type: "button", class: "danger", onclick: () => deleteDialog(key) }, t("delete")))),
    h("h2", {}, t("permissionsTitle")),
    permissionsHost,
    await historyPanel(key));
  return section;
}

// ---------- routing ----------

async function route() {
  chrome();
  if (!state.token) { render(signInView()); focusHeading(); return; }
  const match = location.hash.match(/^#\/keys\/([A-Za-z0-9_]+)$/);
  render(h("p", { class: "muted" }, t("loading")));
  try {
    render(match ? await detailView(match[1]) : await listView());
    focusHeading();
  } catch (err) { fail(err); }
}

async function start() {
  const saved = localStorage.getItem(LANG_KEY);
  state.lang = saved === "en" || saved === "fr" ? saved : (navigator.language || "fr").startsWith("en") ? "en" : "fr";
  // The platform hands the token over in the fragment: read it once, then wipe it.
  const fragment = new URLSearchParams(location.hash.startsWith("#token=") ? location.hash.slice(1) : "");
  if (fragment.get("token")) {
    state.token = fragment.get("token");
    history.replaceState(null, "", location.pathname + location.search + "#/");
  }
  document.getElementById("lang").addEventListener("change", (e) => {
    state.lang = e.target.value;
    localStorage.setItem(LANG_KEY, state.lang);
    route();
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  try { state.config = await (await fetch("/config.json")).json(); } catch { state.config = null; }
  await route();
}

start();
