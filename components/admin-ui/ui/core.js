// What the screen's modules share: the page state, the texts, DOM building, API calls,
// feedback, redrawing the page, and dialogs. Plain DOM code, no framework, no inline script
// (strict CSP).
import { TEXTS } from "./i18n.js";

export const API = "/api/v1";

/** The identity token (in memory only), the language, the screen's configuration and the
 *  method catalog once read. */
export const state = { token: null, lang: "fr", config: null, catalog: null };

// ---------- texts ----------

/** The text `key` (dotted path) in the screen's language, `vars` in its `{name}` places. */
export function t(key, vars = {}) {
  const value = key.split(".").reduce((o, k) => (o ? o[k] : undefined), TEXTS[state.lang]);
  return typeof value === "string" ? fill(value, vars) : value ?? key;
}

/** Puts `vars` in the `{name}` places of `text`. */
export function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function locale() {
  return state.lang === "fr" ? "fr-FR" : "en-GB";
}

export function formatDate(value) {
  if (!value) return null;
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
}

export function formatNumber(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

/** A count with its noun in the screen's language: plural("requests", 3) → "3 requêtes";
 *  `vars` fill the form's other places. */
export function plural(key, n, vars = {}) {
  const forms = t(key);
  return fill(forms[new Intl.PluralRules(locale()).select(n)] ?? forms.other, { ...vars, n: formatNumber(n) });
}

// ---------- DOM ----------

/** Gives `el` its attributes (`on…` are listeners) and children. */
function build(el, attrs, children) {
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

/** Builds an element: h("button", {class: "primary", onclick}, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Builds an SVG element, as h() does an HTML one. */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function render(view) {
  document.getElementById("main").replaceChildren(view);
}

export function focusHeading() {
  const heading = document.querySelector("main h1");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
}

// ---------- API ----------

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    Object.assign(this, { status, code });
  }
}

export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.code, data?.detail);
  return data;
}

/** A refusal of the content sent (shown next to the fields), rather than a failure. */
export function isRefusal(error) {
  return error instanceof ApiError && (error.status === 422 || error.status === 400);
}

/** The deployment's health answer (public), or {} when it cannot be read. */
export async function readHealth() {
  try {
    return (await (await fetch(API + "/health")).json()) ?? {};
  } catch {
    return {};
  }
}

// ---------- feedback ----------

export function announce(message, isError = false) {
  const status = document.getElementById("status");
  status.classList.toggle("error-status", isError);
  status.textContent = "";
  // A fresh text node so screen readers announce repeated messages too.
  setTimeout(() => { status.textContent = message; }, 20);
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { status.textContent = ""; }, 6000);
}

/** What a refused identity leads to; app.js sets them (sign-in page, refusal page). */
const identityRefused = { expired: () => {}, forbidden: () => {} };

export function onIdentityRefused(handlers) {
  Object.assign(identityRefused, handlers);
}

/** What redraws the current page; app.js sets it (its router). */
let redrawPage = async () => {};

export function onRedraw(draw) {
  redrawPage = draw;
}

/** Draws the current page again, from what the server answers now. */
export function redraw() {
  return redrawPage();
}

/** Shows an API error in words; 401 and 403 change page. */
export function fail(error) {
  if (error instanceof ApiError && error.status === 401) return identityRefused.expired();
  if (error instanceof ApiError && error.status === 403) return identityRefused.forbidden();
  if (error instanceof ApiError && error.status === 503) return announce(t("storeDown"), true);
  announce(t("errorPrefix") + (error.message || String(error)), true);
}

// ---------- page parts ----------

export function helpLinks() {
  const config = state.config || { developer_docs_url: "/api/v1/openapi.json", sso_docs_url: "/sso.html" };
  return h("p", { class: "help" },
    h("a", { href: config.developer_docs_url, rel: "noopener" }, t("devDocs")),
    h("a", { href: config.sso_docs_url, rel: "noopener" }, t("ssoDocs")));
}

/** The tabs of *APIs externes* (links between its pages), `current` being "keys" or "webhooks". */
export function sectionTabs(current) {
  const tab = (name, href) => h("a", { href, "aria-current": name === current ? "page" : null }, t(`tabs.${name}`));
  return h("nav", { class: "tabs", "aria-label": t("tabs.label") }, tab("keys", "#/"), tab("webhooks", "#/webhooks"));
}

export function statusBadge(kind, text) {
  return h("span", { class: `badge ${kind}` }, text);
}

/** A switch of radio buttons named `name` (ids `name-value`), `choices` being [value, text]
 *  pairs; `onchange` runs when another is chosen. */
export function segmented(name, legend, choices, checked, onchange) {
  return h("fieldset", { class: "segmented" }, h("legend", { class: "sr-only" }, legend),
    choices.map(([value, text]) => h("label", { for: `${name}-${value}` },
      h("input", { type: "radio", name, id: `${name}-${value}`, value, checked: value === checked, onchange }), text)));
}

/** A panel's loader: each call reads `path()` and fills `host` with `render(answer)`, `host`
 *  busy meanwhile; only the latest call's answer or failure is shown (a period chosen
 *  quickly twice shows the second), a failure going to `failed` (the page's error notice by
 *  default). */
export function latestInto(host, path, render, failed = fail) {
  let latest = 0;
  return async function load() {
    const request = ++latest;
    host.setAttribute("aria-busy", "true");
    try {
      const answer = await api("GET", path());
      if (request === latest) host.replaceChildren(render(answer));
    } catch (err) {
      if (request === latest) failed(err);
    } finally { if (request === latest) host.removeAttribute("aria-busy"); }
  };
}

// ---------- dialogs ----------

export function dialog(title, body, onClose) {
  const d = h("dialog", { "aria-labelledby": "dialog-title" }, h("h2", { id: "dialog-title" }, title), body);
  d.addEventListener("close", () => { d.remove(); onClose?.(); });
  document.body.append(d);
  d.showModal();
  return d;
}

/** Shows a secret once, with a copy button; `texts` names its title, warning, field label,
 *  copy confirmation and closing button (an API key's by default), `note` adds a sentence;
 *  `then` runs when it closes. */
export function showSecret(secret, then, texts = {}, note = null) {
  const words = { title: t("secretTitle"), warning: t("secretWarning"), label: t("secretLabel"), copied: t("copied"), done: t("secretDone"), ...texts };
  const input = h("input", { type: "text", id: "secret", readonly: true, value: secret, class: "mono", "aria-describedby": "secret-warning" });
  const copy = h("button", {
    type: "button", class: "primary",
    onclick: async () => {
      try { await navigator.clipboard.writeText(secret); announce(words.copied); } catch { input.select(); announce(t("copyFailed"), true); }
    },
  }, t("copy"));
  const d = dialog(words.title, h("form", { method: "dialog" },
    h("p", { class: "warning", id: "secret-warning" }, words.warning),
    note ? h("p", {}, note) : null,
    h("label", { for: "secret" }, words.label),
    h("div", { class: "secret" }, input, copy),
    h("p", { class: "actions" }, h("button", { type: "submit" }, words.done))), then);
  input.select();
  return d;
}

/** Asks to confirm an action: on the confirmation the dialog closes and `run` happens (a
 *  failure told by fail()). */
export function confirmDialog(title, text, confirmText, run, { danger = false } = {}) {
  let d;
  d = dialog(title, h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      d.close();
      try { await run(); } catch (err) { fail(err); }
    },
  }, h("p", { class: "warning" }, text),
  h("p", { class: "actions" }, h("button", { class: danger ? "danger" : "primary", type: "submit" }, confirmText),
    h("button", { type: "button", onclick: () => d.close() }, t("cancel")))));
  d.querySelector("button[type=submit]").focus();
  return d;
}
