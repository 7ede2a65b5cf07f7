// A key's expiry: the deployment's policy (`max_key_lifetime_days` on the health route), the
// date field of the creation form, and the dialog that changes a key's expiry.
import { t, h, plural, locale, api, announce, fail, isRefusal, dialog, readHealth } from "./core.js";

/** The longest lifetime a key may be given, in days (0: no limit). */
export async function expiryPolicy() {
  const days = (await readHealth()).max_key_lifetime_days;
  return { maxDays: Number.isInteger(days) && days > 0 ? days : 0 };
}

const pad = (n) => String(n).padStart(2, "0");

/** A local day as an `<input type=date>` holds it (yyyy-mm-dd). */
function dayValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The local day `n` days after today. */
function dayFromToday(n) {
  const date = new Date();
  date.setHours(0, 0, 0, 0);
  date.setDate(date.getDate() + n);
  return dayValue(date);
}

/** The start (00:00, local time) of a yyyy-mm-dd day. */
function startOf(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d);
}

function formatDay(day) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "long" }).format(startOf(day));
}

/** The expiry input of a new key (`current` null) or of a key expiring at `current`: a key
 *  expires at the start (00:00, local time) of the chosen day, so the first day offered is
 *  tomorrow; when the deployment limits lifetimes, a day is required and the last one
 *  offered is today + maxDays (the server counts from now, so that day's start is within).
 *  `value()` answers `{ expires_at }` (RFC 3339, or null for none) or null after showing what
 *  is wrong; `changed()` whether the day differs from `current`'s; `showRefusal(error, any)`
 *  shows a refusal of the expiry (any refusal when `any`) and says whether it did. */
export function expiryField({ maxDays }, current = null) {
  const min = dayFromToday(1);
  const max = maxDays > 0 ? dayFromToday(maxDays) : null;
  const initial = current ? dayValue(new Date(current)) : "";
  const input = h("input", { type: "date", id: "expires", name: "expires", min, max, required: maxDays > 0, value: initial, "aria-describedby": "expires-help expires-error" });
  const error = h("p", { class: "error", id: "expires-error", role: "alert" });
  const element = h("div", { class: "field" },
    h("label", { for: "expires" }, t("expiry.field")), input,
    h("p", { class: "muted", id: "expires-help" }, maxDays > 0 ? plural("expiry.required", maxDays) : t("expiry.optional"), " ", t("expiry.when")),
    error);

  function mark(message) {
    error.textContent = message;
    input.setAttribute("aria-invalid", "true");
    input.closest("details")?.setAttribute("open", "");
    input.focus();
  }
  function value() {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    const day = input.value;
    if (!day && max) { mark(t("expiry.missing", { max: formatDay(max) })); return null; }
    if (!day) return { expires_at: null };
    if (day < min) { mark(t("expiry.past")); return null; }
    if (max && day > max) { mark(t("expiry.tooFar", { max: formatDay(max) })); return null; }
    return { expires_at: startOf(day).toISOString().replace(/\.\d{3}Z$/, "Z") };
  }
  function showRefusal(err, any = false) {
    const about = ["expiry_required", "expiry_too_far"].includes(err.code) || err.message.includes("expires_at");
    if (!about && !any) return false;
    mark(t("refused", { detail: err.message }));
    return true;
  }
  return { element, value, changed: () => input.value !== initial, showRefusal, focus: () => input.focus() };
}

/** Changes a key's expiry (within the deployment's range); `saved` receives the key as the
 *  server answers it. */
export async function expiryDialog(key, saved) {
  const field = expiryField(await expiryPolicy(), key.expires_at);
  let d;
  d = dialog(t("expiry.editTitle"), h("form", {
    novalidate: true, // our own messages, in the page's language
    onsubmit: async (e) => {
      e.preventDefault();
      const chosen = field.value();
      if (!chosen) return;
      if (!field.changed()) { d.close(); announce(t("noChanges")); return; }
      try {
        const updated = await api("PATCH", `/keys/${key.id}`, chosen);
        d.close();
        announce(t("saved"));
        saved(updated);
      } catch (err) {
        if (isRefusal(err)) field.showRefusal(err, true); else { d.close(); fail(err); }
      }
    },
  }, field.element,
  h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, t("save")), h("button", { type: "button", onclick: () => d.close() }, t("cancel")))));
  field.focus();
}
