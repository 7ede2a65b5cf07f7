// The "APIs externes" screen: plain DOM code, no framework, no inline script (strict CSP).
// The identity token lives in memory only: read once from the URL fragment (#token=…) or
// pasted on the sign-in form; never written to localStorage, sessionStorage or a cookie.
// This module holds the keys' pages and the routing; core.js what the modules share,
// expiry.js the keys' expiry field, webhooks.js the Webhooks tab.
import { TEXTS } from "./i18n.js";
import {
  state, t, h, svg, locale, formatDate, formatNumber, plural, announce, ApiError, api, fail, render,
  focusHeading, helpLinks, sectionTabs, statusBadge, dialog, showSecret, isRefusal, readHealth, onIdentityRefused,
} from "./core.js";
import { expiryDialog, expiryField, expiryPolicy } from "./expiry.js";
import { webhookView, webhooksView } from "./webhooks.js";

const LANG_KEY = "ingeneo.api-keys.lang"; // the language choice is the only thing stored

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

// ---------- keys ----------

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

// ---------- key list ----------

function badge(status) {
  return statusBadge(status, t(status));
}

/** The flag of a key a secret scanner reported as leaked (nothing otherwise). */
function leakFlag(key) {
  return key.leak ? [" ", h("span", { class: "badge leaked" }, t("leakFlag"))] : null;
}

const SCANNERS = { github: "GitHub", gitlab: "GitLab" };

/** Who reported a leak: a secret scanner by its name, or the public report. */
function reporterName(scanner) {
  return scanner === "public" ? t("publicReport") : SCANNERS[scanner] || scanner;
}

/** The "Fuite signalée" banner of a leaked key: who found it (a secret scanner, or anyone
 *  through the public report), when, and where (a link only for http(s) addresses). */
function leakBanner(leak) {
  const url = leak.url && /^https?:\/\//i.test(leak.url) ? leak.url : null;
  return h("div", { class: "panel leak", role: "alert" },
    h("h2", {}, t("leakTitle")),
    h("p", {}, leak.scanner === "public" ? t("leakTextPublic", { date: formatDate(leak.reported_at) })
      : t("leakText", { scanner: reporterName(leak.scanner), date: formatDate(leak.reported_at) })),
    url ? h("p", {}, h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, t("leakWhere")), " ", h("span", { class: "mono muted" }, url))
      : leak.url ? h("p", { class: "mono muted" }, leak.url) : null,
    h("p", {}, t("leakAdvice")));
}

async function listView() {
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
          h("td", { "data-label": t("colStatus") }, badge(key.status), leakFlag(key)),
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

// ---------- usage limits ----------

const MAX_WINDOW_SECONDS = 86400;
const MAX_ALLOWLIST = 100;
const WINDOW_PRESETS = [60, 3600, 86400];

/** The rate limit, quota and IP allowlist inputs, filled from `key` (none for a new key).
 *  `changes()` checks them and answers the fields that differ from what the inputs first
 *  held, or null after showing what is wrong; `showRefusal(error)` puts a refusal's detail
 *  next to the field it names and says whether it found one. */
function limitFields(key) {
  const rate = key?.rate_limit;
  const quota = key?.quota;
  const rateOn = h("input", { type: "checkbox", id: "rate-on", checked: Boolean(rate) });
  const rateLimit = h("input", { type: "number", id: "rate-limit", min: 1, step: 1, value: rate?.limit });
  const rateWindow = h("input", { type: "number", id: "rate-window", min: 1, max: MAX_WINDOW_SECONDS, step: 1, value: rate?.window_seconds ?? 60 });
  const quotaOn = h("input", { type: "checkbox", id: "quota-on", checked: Boolean(quota) });
  const quotaLimit = h("input", { type: "number", id: "quota-limit", min: 1, step: 1, value: quota?.limit });
  const quotaPeriod = h("select", { id: "quota-period" },
    ["day", "month"].map((period) => h("option", { value: period, selected: quota?.period === period }, t(`periodOptions.${period}`))));
  const ipList = h("textarea", { id: "ip-allowlist", rows: 4, spellcheck: "false", autocomplete: "off", class: "mono" }, (key?.ip_allowlist ?? []).join("\n"));

  const errors = new Map(); // input → the message shown under it
  function labelled(text, input, help) {
    const error = h("p", { class: "error", id: `${input.id}-error`, role: "alert" });
    errors.set(input, error);
    input.setAttribute("aria-describedby", help ? `${input.id}-help ${error.id}` : error.id);
    return h("div", { class: "field" }, h("label", { for: input.id }, text), input,
      help ? h("p", { class: "muted", id: `${input.id}-help` }, help) : null, error);
  }
  function switched(checkbox, text, body) {
    const sync = () => { body.hidden = !checkbox.checked; };
    checkbox.addEventListener("change", sync);
    sync();
    return [h("label", { class: "toggle", for: checkbox.id }, checkbox, text), body];
  }
  const presets = h("p", { class: "presets", role: "group", "aria-labelledby": "rate-presets" },
    h("span", { class: "muted", id: "rate-presets" }, t("ratePresets")),
    WINDOW_PRESETS.map((seconds) => h("button", { type: "button", onclick: () => { rateWindow.value = seconds; } }, t(`presets.${seconds}`))));
  const element = h("div", { class: "limits" },
    h("fieldset", { id: "rate" }, h("legend", {}, t("rateTitle")),
      switched(rateOn, t("rateOn"), h("div", {}, h("div", { class: "field-row" }, labelled(t("rateLimit"), rateLimit), labelled(t("rateWindow"), rateWindow)), presets))),
    h("fieldset", { id: "quota" }, h("legend", {}, t("quotaTitle")),
      switched(quotaOn, t("quotaOn"), h("div", { class: "field-row" }, labelled(t("quotaLimit"), quotaLimit), labelled(t("quotaPeriod"), quotaPeriod)))),
    h("fieldset", { id: "ip" }, h("legend", {}, t("ipTitle")), labelled(t("ipField"), ipList, t("ipHelp"))));

  const whole = (input) => (/^\d+$/.test(input.value.trim()) ? Number(input.value) : NaN);
  const collect = () => ({
    rate_limit: rateOn.checked ? { limit: whole(rateLimit), window_seconds: whole(rateWindow) } : null,
    quota: quotaOn.checked ? { limit: whole(quotaLimit), period: quotaPeriod.value } : null,
    ip_allowlist: ipList.value.split("\n").map((line) => line.trim()).filter(Boolean),
  });
  const initial = collect();

  function clear() {
    for (const [input, error] of errors) { error.textContent = ""; input.removeAttribute("aria-invalid"); }
  }
  function mark(input, message) {
    errors.get(input).textContent = message;
    input.setAttribute("aria-invalid", "true");
  }
  function reveal(input) {
    input.closest("details")?.setAttribute("open", "");
    input.focus();
  }
  function changes() {
    clear();
    const values = collect();
    const { rate_limit: r, quota: q, ip_allowlist: ips } = values;
    if (r && !(r.limit >= 1)) mark(rateLimit, t("integerRequired"));
    if (r && !(r.window_seconds >= 1 && r.window_seconds <= MAX_WINDOW_SECONDS)) mark(rateWindow, t("windowRange"));
    if (q && !(q.limit >= 1)) mark(quotaLimit, t("integerRequired"));
    if (ips.length > MAX_ALLOWLIST) mark(ipList, t("ipTooMany", { count: ips.length }));
    const wrong = [...errors.keys()].find((input) => input.hasAttribute("aria-invalid"));
    if (wrong) { reveal(wrong); return null; }
    return Object.fromEntries(Object.entries(values).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(initial[name])));
  }
  // The server names the field first in its detail (`ip_allowlist[1]: …`,
  // `rate_limit.window_seconds must be …`); the most specific names come first here.
  const named = [["rate_limit.window_seconds", rateWindow], ["rate_limit", rateLimit], ["quota.period", quotaPeriod], ["quota", quotaLimit], ["ip_allowlist", ipList]];
  function showRefusal(error) {
    const input = named.find(([name]) => error.message.includes(name))?.[1];
    if (!input) return false;
    clear();
    mark(input, t("refused", { detail: error.message }));
    reveal(input);
    return true;
  }
  return { element, changes, showRefusal };
}

function describeRate(rate) {
  if (!rate) return t("none");
  const per = WINDOW_PRESETS.includes(rate.window_seconds) ? t(`ratePer.${rate.window_seconds}`) : t("ratePerSeconds", { n: formatNumber(rate.window_seconds) });
  return `${plural("requests", rate.limit)} ${per}`;
}

function describeQuota(quota) {
  return quota ? `${plural("requests", quota.limit)} ${t(`periods.${quota.period}`)}` : t("noQuota");
}

function describeAllowlist(list) {
  return list.length ? h("span", { class: "mono" }, list.join(", ")) : t("ipAny");
}

/** The key page's form of its usage limits; `saved` receives the key as the server answers it. */
function limitsPanel(key, saved) {
  const fields = limitFields(key);
  const error = h("p", { class: "error", role: "alert" });
  return h("form", {
    class: "panel", id: "limits", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const changes = fields.changes();
      if (!changes) return;
      if (Object.keys(changes).length === 0) { announce(t("noChanges")); return; }
      try {
        const updated = await api("PATCH", `/keys/${key.id}`, changes);
        announce(t("saved"));
        saved(updated);
      } catch (err) {
        if (!isRefusal(err)) fail(err);
        else if (!fields.showRefusal(err)) error.textContent = t("refused", { detail: err.message });
      }
    },
  }, h("h2", {}, t("limitsTitle")), fields.element, error,
  h("p", {}, h("button", { class: "primary", type: "submit", id: "limits-save" }, t("limitsSave"))));
}

// ---------- usage chart ----------

/** Verification codes in the order the bars stack them (bottom first). */
const CODES = ["VALID", "METHOD_NOT_ALLOWED", "COMPANY_NOT_ALLOWED", "IP_NOT_ALLOWED", "RATE_LIMITED", "QUOTA_EXCEEDED", "EXPIRED", "DISABLED"];
const CHART = { width: 720, height: 240, left: 48, right: 8, top: 12, bottom: 40 };

function codeName(code) {
  return TEXTS[state.lang].codes[code] ?? code;
}

function byCodeOrder(a, b) {
  const rank = (code) => (CODES.includes(code) ? CODES.indexOf(code) : CODES.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** The axis step: the smallest whole 1, 2 or 5 × 10ⁿ that covers `max` in four steps. */
function axisStep(max) {
  const rough = Math.max(1, max / 4);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((step) => step >= rough);
}

/** The stacked bar chart of a usage answer (hourly or daily buckets), or its empty state. */
function usageChart(usage) {
  const hourly = usage.granularity === "hour";
  const buckets = usage.data.map((b) => ({ start: new Date(b.start), counts: b.counts, total: Object.values(b.counts).reduce((a, n) => a + n, 0) }));
  const sums = {};
  for (const b of buckets) for (const [code, n] of Object.entries(b.counts)) sums[code] = (sums[code] ?? 0) + n;
  const codes = Object.keys(sums).sort(byCodeOrder);
  const total = buckets.reduce((a, b) => a + b.total, 0);
  if (total === 0) return h("p", { class: "empty muted" }, t("usageEmpty"));

  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const peak = Math.max(...buckets.map((b) => b.total));
  const step = axisStep(peak);
  const ceiling = step * Math.ceil(peak / step);
  const y = (v) => top + plotHeight - (v / ceiling) * plotHeight;
  const slot = plotWidth / buckets.length;
  const barWidth = Math.max(1, slot * 0.72);

  // Hours read in the viewer's time zone; days are UTC days and read as such.
  const tick = new Intl.DateTimeFormat(locale(), hourly ? { hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short", timeZone: "UTC" });
  const tickDay = new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short" });
  const when = new Intl.DateTimeFormat(locale(), hourly ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "full", timeZone: "UTC" });
  const labelled = (b, i) => (hourly ? b.start.getHours() % 6 === 0 : (buckets.length - 1 - i) % 5 === 0);
  const breakdown = (counts) => codes.filter((c) => counts[c]).map((c) => `${codeName(c)} ${formatNumber(counts[c])}`).join(", ");

  const chart = svg("svg", {
    class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${t(hourly ? "usageSummaryHours" : "usageSummaryDays", { total: plural("verifications", total) })} (${breakdown(sums)}).`,
  });
  for (let v = 0; v <= ceiling; v += step) {
    chart.append(svg("line", { class: v ? "grid" : "axis", x1: left, x2: width - right, y1: y(v), y2: y(v) }),
      svg("text", { class: "tick", x: left - 6, y: y(v), "text-anchor": "end", "dominant-baseline": "middle" }, formatNumber(v)));
  }
  let dated = false; // hourly ticks name the day at midnight and on the first tick
  buckets.forEach((b, i) => {
    const x = left + i * slot;
    const bar = svg("g", { class: "bar" },
      svg("title", {}, `${hourly ? when.formatRange(b.start, new Date(b.start.getTime() + 3600e3)) : when.format(b.start)} — ${plural("verifications", b.total)}${b.total ? ` (${breakdown(b.counts)})` : ""}`),
      svg("rect", { class: "hit", x, y: top, width: slot, height: plotHeight }));
    let base = 0;
    for (const code of codes.filter((c) => b.counts[c])) {
      const n = b.counts[code];
      bar.append(svg("rect", { class: `seg code-${code}`, x: x + (slot - barWidth) / 2, y: y(base + n), width: barWidth, height: y(base) - y(base + n) }));
      base += n;
    }
    chart.append(bar);
    if (!labelled(b, i)) return;
    const label = svg("text", { class: "tick", x: x + slot / 2, y: top + plotHeight + 16, "text-anchor": "middle" }, tick.format(b.start));
    if (hourly && (!dated || b.start.getHours() === 0)) {
      label.append(svg("tspan", { x: x + slot / 2, dy: 14 }, tickDay.format(b.start)));
      dated = true;
    }
    chart.append(label);
  });
  return h("div", {},
    h("p", { class: "total" }, t("usageTotal", { total: plural("verifications", total) })),
    h("div", { class: "chart-wrap" }, chart),
    h("ul", { class: "legend", "aria-label": t("usageLegend") }, codes.map((code) => h("li", {},
      h("span", { class: `swatch code-${code}`, "aria-hidden": "true" }), codeName(code), " ", h("span", { class: "muted" }, formatNumber(sums[code]))))),
    hourly ? null : h("p", { class: "muted" }, t("usageUtc")));
}

/** A switch of radio buttons named `name` (ids `name-value`), `choices` being [value, text]
 *  pairs; `onchange` runs when another is chosen. */
function segmented(name, legend, choices, checked, onchange) {
  return h("fieldset", { class: "segmented" }, h("legend", { class: "sr-only" }, legend),
    choices.map(([value, text]) => h("label", { for: `${name}-${value}` },
      h("input", { type: "radio", name, id: `${name}-${value}`, value, checked: value === checked, onchange }), text)));
}

/** The key page's usage panel: the chart over the last 48 hours or the last 30 days. */
function usagePanel(key) {
  const host = h("div", { class: "chart-host", "aria-live": "polite" }, h("p", { class: "muted" }, t("loading")));
  const range = segmented("usage", t("usageRange"), [["hour", t("usageHours")], ["day", t("usageDays")]], "hour", load);
  let latest = 0; // only the answer to the latest request is drawn
  async function load() {
    const request = ++latest;
    const granularity = range.querySelector("input:checked").value;
    host.setAttribute("aria-busy", "true");
    try {
      const usage = await api("GET", `/keys/${key.id}/usage?granularity=${granularity}`);
      if (request === latest) host.replaceChildren(usageChart(usage));
    } catch (err) { fail(err); } finally { if (request === latest) host.removeAttribute("aria-busy"); }
  }
  load();
  return h("section", { class: "panel", id: "usage" }, h("h2", {}, t("usageTitle")), range, host);
}

// ---------- access review ----------

/** The periods the review offers, in days; the middle one is the server's default. */
const REVIEW_DAYS = [30, 90, 365];
/** The reason the permission history records for a suggestion applied from the review. */
const REVIEW_REASON = "access review";

/** A last use or attempt: the server counts by hour, so the time it gives is the start of
 *  the last UTC hour with calls. */
function hourOf(iso) {
  return h("time", { datetime: iso, title: t("review.toTheHour") }, formatDate(iso));
}

/** A method or company of a review's count (methods by their catalog label when `catalog`
 *  has them): "(other)" stands for those beyond the counting bound, and a refused call may
 *  name no company. */
function countedName(name, catalog = []) {
  if (name === null) return h("span", { class: "muted" }, t("review.noCompany"));
  if (name === "(other)") return h("span", { class: "muted" }, t("review.other"));
  const method = catalog.find((m) => m.name === name);
  return method ? methodLabel(method) : h("code", {}, name);
}

/** Whether the suggestion takes something away: the server only ever suggests what the key
 *  holds, so any difference from the key's grants and company scope narrows them. */
function narrowsPermissions(review) {
  const same = (a, b) => a.length === b.length && a.every((x) => b.includes(x));
  const { methods, companies } = review.suggestion;
  const scope = review.companies.scope;
  const sameCompanies = companies === "all" || scope === "all" ? companies === scope : same(companies, scope);
  return !(sameCompanies && same(methods, review.methods.map((g) => g.grant)));
}

/** A table with its column headers (the last `numeric` ones right-aligned) and its rows. */
function reviewTable(caption, headers, numeric, rows) {
  return h("table", {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, headers.map((text, i) => h("th", { scope: "col", class: i >= headers.length - numeric ? "num" : null }, text)))),
    h("tbody", {}, rows));
}

/** A cell with the label the phone layout shows above it. */
function cell(label, content, attrs = {}) {
  return h("td", { "data-label": label, ...attrs }, content);
}

function unusedBadge() {
  return h("span", { class: "badge unused" }, t("review.unused"));
}

/** The grants of the key, each with its calls and last use (or marked unused), and the
 *  methods used under it. */
function grantsTable(review, catalog) {
  const [colCalls, colLast] = [t("review.colCalls"), t("review.colLastUsed")];
  const rows = review.methods.flatMap(({ grant, used }) => {
    const calls = used.reduce((sum, m) => sum + m.calls, 0);
    const last = used.map((m) => m.last_used_at).sort().at(-1);
    return [
      h("tr", { class: "grant" },
        h("th", { scope: "row" }, h("code", {}, grant)),
        cell(colCalls, formatNumber(calls), { class: "num" }),
        cell(colLast, used.length ? hourOf(last) : unusedBadge(), { class: "num" })),
      ...used.map((m) => h("tr", {},
        h("th", { scope: "row", class: "sub" }, countedName(m.method, catalog)),
        cell(colCalls, formatNumber(m.calls), { class: "num" }),
        cell(colLast, hourOf(m.last_used_at), { class: "num" }))),
    ];
  });
  return reviewTable(t("review.grantsTitle"), [t("review.colGrant"), colCalls, colLast], 2, rows);
}

/** The companies reached, and those of a restricted scope that were not. */
function companiesTable(review) {
  const { scope, used } = review.companies;
  const [colCalls, colLast] = [t("review.colCalls"), t("review.colLastUsed")];
  const reached = new Set(used.map((c) => c.company));
  const rows = [
    ...used.map((c) => h("tr", {},
      h("th", { scope: "row" }, countedName(c.company)),
      cell(colCalls, formatNumber(c.calls), { class: "num" }),
      cell(colLast, hourOf(c.last_used_at), { class: "num" }))),
    ...(scope === "all" ? [] : scope.filter((id) => !reached.has(id)).map((id) => h("tr", {},
      h("th", { scope: "row" }, h("code", {}, id)),
      cell(colCalls, formatNumber(0), { class: "num" }),
      cell(colLast, unusedBadge(), { class: "num" })))),
  ];
  return [
    h("p", {}, scope === "all" ? t("review.scopeAll") : t("review.scopeSome", { list: scope.join(", ") || t("review.nothing") })),
    rows.length ? reviewTable(t("review.companiesTitle"), [t("review.colCompany"), colCalls, colLast], 2, rows) : null,
  ];
}

/** What the partner tried and could not do. */
function refusedTable(review, catalog) {
  if (review.refused.length === 0) return h("p", { class: "muted" }, t("review.refusedNone"));
  const [colMethod, colCompany, colCode, colCalls, colLast] =
    ["colMethod", "colCompany", "colCode", "colCalls", "colLastAt"].map((name) => t(`review.${name}`));
  return reviewTable(t("review.refusedTitle"), [colMethod, colCompany, colCode, colCalls, colLast], 2,
    review.refused.map((r) => h("tr", {},
      h("th", { scope: "row" }, countedName(r.method, catalog)),
      cell(colCompany, countedName(r.company)),
      cell(colCode, codeName(r.code)),
      cell(colCalls, formatNumber(r.calls), { class: "num" }),
      cell(colLast, hourOf(r.last_at), { class: "num" }))));
}

/** Names as code, separated by commas ("none" for none). */
function codeList(names) {
  return names.length ? names.flatMap((name, i) => [i ? ", " : "", h("code", {}, name)]) : t("review.nothing");
}

/** The suggestion, and the button that applies it when it narrows the key's permissions. */
function suggestionPart(key, review, catalog) {
  const { methods, companies } = review.suggestion;
  const leftOut = [...review.left_out.methods, ...review.left_out.companies];
  return [
    h("h3", {}, t("review.suggestionTitle")),
    h("ul", { class: "suggestion" },
      h("li", {}, t("review.suggestionMethods"), " ", codeList(methods)),
      h("li", {}, t("review.suggestionCompanies"), " ", companies === "all" ? t("review.allCompanies") : codeList(companies))),
    leftOut.length ? h("p", { class: "muted" }, t("review.leftOut", { list: leftOut.join(", ") })) : null,
    narrowsPermissions(review)
      ? h("p", {}, h("button", { type: "button", class: "primary", onclick: () => applySuggestion(key, review, catalog) }, t("review.apply")))
      : h("p", { class: "muted" }, t("review.nothingToNarrow")),
  ];
}

/** The review of one period, or the word that there is nothing to review yet. */
function reviewBody(key, review, catalog) {
  if (review.calls === 0 && review.refused.length === 0) return h("p", { class: "empty muted" }, t("review.empty", { days: formatNumber(review.days) }));
  return h("div", {},
    h("p", { class: "total" }, plural("review.summary", review.calls, { days: formatNumber(review.days), from: formatDate(review.from), to: formatDate(review.to) })),
    review.complete ? null : h("p", { class: "warning", id: "review-incomplete" }, t("review.incomplete")),
    h("h3", {}, t("review.grantsTitle")), grantsTable(review, catalog),
    h("h3", {}, t("review.companiesTitle")), companiesTable(review),
    h("h3", {}, t("review.refusedTitle")), h("p", { class: "muted" }, t("review.refusedIntro")), refusedTable(review, catalog),
    suggestionPart(key, review, catalog),
    h("p", { class: "muted footnote" }, t("review.footnote")));
}

/** Dry-runs the suggestion over the review's period, shows what it would have refused, and
 *  on confirmation puts it in place of the key's permissions and reloads the page. */
async function applySuggestion(key, review, catalog) {
  const proposal = { methods: review.suggestion.methods, companies: review.suggestion.companies };
  let dry;
  try {
    dry = await api("POST", `/keys/${key.id}/access-review/simulate`, { ...proposal, days: review.days });
  } catch (err) {
    if (err instanceof ApiError && err.status === 503) announce(t("review.unavailable"), true); else fail(err);
    return;
  }
  const refusedList = dry.refused.length ? [
    h("p", {}, t("review.wouldBeRefused")),
    h("ul", { class: "events" }, dry.refused.map((r) => h("li", {},
      countedName(r.method, catalog), " — ", countedName(r.company), " — ", plural("review.calls", r.calls)))),
  ] : [];
  let d;
  d = dialog(t("review.confirmTitle"), h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("PUT", `/keys/${key.id}/permissions`, { ...proposal, reason: REVIEW_REASON });
        d.close();
        announce(t("review.applied"));
        await route();
      } catch (err) { d.close(); fail(err); }
    },
  },
  h("p", { class: dry.would_be_refused ? "warning" : null, id: "simulation" },
    plural("review.simulation", dry.calls, { refused: formatNumber(dry.would_be_refused), days: formatNumber(review.days) })),
  refusedList,
  h("p", {}, t("review.confirmText")),
  h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, t("review.confirm")), h("button", { type: "button", onclick: () => d.close() }, t("cancel")))));
  d.querySelector("button[type=submit]").focus();
}

/** The key page's access review: for the chosen period, what the key used of its
 *  permissions, what it was refused, and a narrower set to apply. `load()` reads it again. */
function reviewPanel(key, catalog) {
  const host = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, t("loading")));
  const range = segmented("review", t("review.period"), REVIEW_DAYS.map((days) => [String(days), plural("review.dayCount", days)]), "90", () => load());
  let latest = 0; // only the answer to the latest request is shown
  async function load() {
    const request = ++latest;
    const days = range.querySelector("input:checked").value;
    host.setAttribute("aria-busy", "true");
    try {
      const review = await api("GET", `/keys/${key.id}/access-review?days=${days}`);
      if (request === latest) host.replaceChildren(reviewBody(key, review, catalog));
    } catch (err) {
      if (request !== latest) return;
      // The review is one panel among others: its failure is told here, the page stays.
      const unavailable = err instanceof ApiError && (err.status === 404 || err.status === 503);
      if (!unavailable) { fail(err); return; }
      host.replaceChildren(h("p", { class: "warning" }, t(err.status === 404 ? "review.notFound" : "review.unavailable")));
    } finally { if (request === latest) host.removeAttribute("aria-busy"); }
  }
  load();
  const element = h("section", { class: "panel review", id: "access-review", "aria-labelledby": "access-review-title" },
    h("h2", { id: "access-review-title" }, t("review.title")), h("p", { class: "muted" }, t("review.intro")), range, host);
  return { element, load };
}

// ---------- key detail ----------

async function loadCatalog() {
  if (!state.catalog) state.catalog = (await api("GET", "/methods")).data;
  return state.catalog;
}

/** A catalog method as the screen names it: its label, then its name. */
function methodLabel(method) {
  return [method.label[state.lang] || method.label.fr, " ", h("code", { class: "muted" }, method.name)];
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
        methodLabel(m), m.name,
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
      await route();
    } catch (err) { fail(err); }
  };
  const f = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  return h("div", { class: "panel" },
    h("dl", { class: "facts" },
      f(t("facts.hint"), h("span", { class: "mono" }, key.hint)),
      f(t("facts.status"), [badge(key.status), ...(leakFlag(key) || [])]),
      f(t("facts.created"), [formatDate(key.created_at), " ", t("by", { name: key.created_by.name || key.created_by.id })]),
      f(t("facts.lastUsed"), formatDate(key.last_used_at) || t("never")),
      f(t("facts.expires"), formatDate(key.expires_at) || t("none")),
      f(t("facts.rateLimit"), describeRate(key.rate_limit)),
      f(t("facts.quota"), describeQuota(key.quota)),
      f(t("facts.ipAllowlist"), describeAllowlist(key.ip_allowlist))),
    h("p", { class: "actions" },
      h("button", { type: "button", onclick: () => regenerateDialog(key) }, t("regenerate")),
      h("button", { type: "button", onclick: () => expiryDialog(key, route) }, t("expiry.edit")),
      // A reported secret is published: the server refuses to reactivate it (409
      // leaked_secret) until a regeneration replaces it, so the screen offers that instead.
      key.leak && key.leak.live_secret !== false && key.status !== "active"
        ? h("span", { class: "muted" }, t("leakedReactivate"))
        : h("button", { type: "button", onclick: toggleStatus }, t(key.status === "active" ? "deactivate" : "activate")),
      h("button", { type: "button", class: "danger", onclick: () => deleteDialog(key) }, t("delete"))),
    ...(boundMs > 0 ? [h("p", { class: "muted", id: "propagation" }, t("propagation", { ms: formatNumber(boundMs) }))] : []));
}

async function detailView(id) {
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

// ---------- routing ----------

let routed = 0; // only the latest route draws the page: a slower earlier one is dropped

async function route() {
  const request = ++routed;
  chrome();
  if (!state.token) { render(signInView()); focusHeading(); return; }
  const key = location.hash.match(/^#\/keys\/([A-Za-z0-9_]+)$/);
  const webhook = location.hash.match(/^#\/webhooks(?:\/([A-Za-z0-9_-]+))?$/);
  render(h("p", { class: "muted" }, t("loading")));
  try {
    let view;
    if (key) view = await detailView(key[1]);
    else if (webhook) view = webhook[1] ? await webhookView(webhook[1]) : await webhooksView();
    else view = await listView();
    if (request !== routed) return;
    render(view);
    focusHeading();
  } catch (err) { if (request === routed) fail(err); }
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
  onIdentityRefused({ expired: () => signOut(t("expired")), forbidden: () => render(forbiddenView()) });
  window.addEventListener("hashchange", route);
  try { state.config = await (await fetch("/config.json")).json(); } catch { state.config = null; }
  await route();
}

start();
