// A key reported as leaked, by a secret scanner or through the public report: its flag (the
// list, the key's page), the banner of its page, and who reported it.
import { t, h, formatDate } from "./core.js";

/** The flag of a key a secret scanner reported as leaked (nothing otherwise). */
export function leakFlag(key) {
  return key.leak ? [" ", h("span", { class: "badge leaked" }, t("leakFlag"))] : null;
}

const SCANNERS = { github: "GitHub", gitlab: "GitLab" };

/** Who reported a leak: a secret scanner by its name, or the public report. */
export function reporterName(scanner) {
  return scanner === "public" ? t("publicReport") : SCANNERS[scanner] || scanner;
}

/** The "Fuite signalée" banner of a leaked key: who found it (a secret scanner, or anyone
 *  through the public report), when, and where (a link only for http(s) addresses). */
export function leakBanner(leak) {
  const url = leak.url && /^https?:\/\//i.test(leak.url) ? leak.url : null;
  return h("div", { class: "panel leak", role: "alert" },
    h("h2", {}, t("leakTitle")),
    h("p", {}, leak.scanner === "public" ? t("leakTextPublic", { date: formatDate(leak.reported_at) })
      : t("leakText", { scanner: reporterName(leak.scanner), date: formatDate(leak.reported_at) })),
    url ? h("p", {}, h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, t("leakWhere")), " ", h("span", { class: "mono muted" }, url))
      : leak.url ? h("p", { class: "mono muted" }, leak.url) : null,
    h("p", {}, t("leakAdvice")));
}

