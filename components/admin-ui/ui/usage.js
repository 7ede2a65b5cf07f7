// A key's usage: its verifications by code over the last 48 hours (hourly) or the last 30
// days (daily, UTC days), as a stacked bar chart drawn in inline SVG.
import { TEXTS } from "./i18n.js";
import { state, t, h, svg, locale, formatNumber, plural, segmented, latestInto } from "./core.js";

/** Verification codes in the order the bars stack them (bottom first). */
const CODES = ["VALID", "METHOD_NOT_ALLOWED", "COMPANY_NOT_ALLOWED", "IP_NOT_ALLOWED", "RATE_LIMITED", "QUOTA_EXCEEDED", "EXPIRED", "DISABLED"];
const CHART = { width: 720, height: 240, left: 48, right: 8, top: 12, bottom: 40 };

export function codeName(code) {
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


/** The key page's usage panel: the chart over the last 48 hours or the last 30 days. */
export function usagePanel(key) {
  const host = h("div", { class: "chart-host", "aria-live": "polite" }, h("p", { class: "muted" }, t("loading")));
  const range = segmented("usage", t("usageRange"), [["hour", t("usageHours")], ["day", t("usageDays")]], "hour", () => load());
  const granularity = () => range.querySelector("input:checked").value;
  const load = latestInto(host, () => `/keys/${key.id}/usage?granularity=${granularity()}`, usageChart);
  load();
  return h("section", { class: "panel", id: "usage" }, h("h2", {}, t("usageTitle")), range, host);
}

