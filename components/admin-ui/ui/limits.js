// A key's usage limits: the rate limit, quota and IP allowlist inputs (of the creation form
// and of the key's page), the key page's form, and how the screen words each limit.
import { t, h, formatNumber, plural, announce, api, fail, isRefusal } from "./core.js";

const MAX_WINDOW_SECONDS = 86400;
const MAX_ALLOWLIST = 100;
const WINDOW_PRESETS = [60, 3600, 86400];

/** The rate limit, quota and IP allowlist inputs, filled from `key` (none for a new key).
 *  `changes()` checks them and answers the fields that differ from what the inputs first
 *  held, or null after showing what is wrong; `showRefusal(error)` puts a refusal's detail
 *  next to the field it names and says whether it found one. */
export function limitFields(key) {
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

export function describeRate(rate) {
  if (!rate) return t("none");
  const per = WINDOW_PRESETS.includes(rate.window_seconds) ? t(`ratePer.${rate.window_seconds}`) : t("ratePerSeconds", { n: formatNumber(rate.window_seconds) });
  return `${plural("requests", rate.limit)} ${per}`;
}

export function describeQuota(quota) {
  return quota ? `${plural("requests", quota.limit)} ${t(`periods.${quota.period}`)}` : t("noQuota");
}

export function describeAllowlist(list) {
  return list.length ? h("span", { class: "mono" }, list.join(", ")) : t("ipAny");
}

/** The key page's form of its usage limits; `saved` receives the key as the server answers it. */
export function limitsPanel(key, saved) {
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

