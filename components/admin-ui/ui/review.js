// A key's access review: over 30, 90 or 365 days, what the key used of its permissions, what
// it was refused, and the narrowest permissions covering its traffic, applied after a dry run.
import { t, h, formatDate, formatNumber, plural, announce, ApiError, api, fail, dialog, segmented, redraw, latestInto } from "./core.js";
import { methodLabel } from "./permissions.js";
import { codeName } from "./usage.js";

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
        await redraw();
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
export function reviewPanel(key, catalog) {
  const host = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, t("loading")));
  const range = segmented("review", t("review.period"), REVIEW_DAYS.map((days) => [String(days), plural("review.dayCount", days)]), "90", () => load());
  const days = () => range.querySelector("input:checked").value;
  // The review is one panel among others: its failure is told here, the page stays.
  const load = latestInto(host, () => `/keys/${key.id}/access-review?days=${days()}`, (review) => reviewBody(key, review, catalog), (err) => {
    const unavailable = err instanceof ApiError && (err.status === 404 || err.status === 503);
    if (!unavailable) { fail(err); return; }
    host.replaceChildren(h("p", { class: "warning" }, t(err.status === 404 ? "review.notFound" : "review.unavailable")));
  });
  load();
  const element = h("section", { class: "panel review", id: "access-review", "aria-labelledby": "access-review-title" },
    h("h2", { id: "access-review-title" }, t("review.title")), h("p", { class: "muted" }, t("review.intro")), range, host);
  return { element, load };
}

