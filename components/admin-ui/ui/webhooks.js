// The Webhooks tab of *APIs externes*: the addresses that receive a signed message (Standard
// Webhooks) for the key events they choose, their signing secrets (shown once), a test
// message, and each one's delivery log with its attempts. The service signs, sends and
// retries; this page reads and steers it through /api/v1/webhooks.
import {
  t, h, formatDate, formatNumber, announce, ApiError, api, fail, isRefusal, helpLinks, sectionTabs,
  statusBadge, dialog, showSecret, confirmDialog,
} from "./core.js";

/** The event types an address may choose, in the order the form lists them. */
export const EVENT_TYPES = ["key.created", "key.updated", "key.permissions_changed", "key.regenerated",
  "key.deactivated", "key.activated", "key.deleted", "key.leak_reported", "key.expiring", "key.expired",
  "key.quota_threshold", "key.rate_limited", "key.unused"];
/** The events of an address that takes them all, future ones included. */
const ALL = ["*"];
const LIST_PAGE = 25;
const LOG_PAGE = 20;

// ---------- words ----------

/** What an event type means, in the screen's language (its code when the screen does not
 *  know it). */
function eventName(type) {
  const path = `webhooks.eventTypes.${type}`;
  const text = t(path);
  return typeof text === "string" && text !== path ? text : type;
}

/** An event type as the screen names it: its description, then its code. */
function eventLabel(type) {
  return [eventName(type), " ", h("code", { class: "muted" }, type)];
}

function takesAll(events) {
  return events.includes("*");
}

/** "enabled", "disabled", or "failing" when the service disabled it after 5 days of failures. */
function stateOf(webhook) {
  if (webhook.enabled) return "enabled";
  return webhook.disabled_reason === "failing" ? "failing" : "disabled";
}

function stateBadge(webhook) {
  const state = stateOf(webhook);
  return statusBadge({ enabled: "active", disabled: "inactive", failing: "leaked" }[state], t(`webhooks.states.${state}`));
}

function deliveryBadge(delivery) {
  return statusBadge({ delivered: "active", pending: "unused", failed: "leaked" }[delivery.status] ?? "inactive",
    t(`webhooks.statuses.${delivery.status}`));
}

/** One attempt: the HTTP status or the error, and how long it took. */
function attemptText(attempt) {
  return [attempt.http_status === null || attempt.http_status === undefined ? null : `HTTP ${attempt.http_status}`,
    attempt.http_status ? null : attempt.error, `${formatNumber(attempt.duration_ms)} ms`].filter(Boolean).join(", ");
}

/** What became of a message: "Livré (HTTP 200, 35 ms)", "Échec (…)", or not yet. */
function outcome(delivery) {
  const last = delivery.attempts.at(-1);
  if (!last) return t("webhooks.outcome.waiting");
  const word = { delivered: "delivered", failed: "failed" }[delivery.status] ?? "pending";
  return t(`webhooks.outcome.${word}`, { detail: attemptText(last) });
}

const secretTexts = () => ({
  title: t("webhooks.secret.title"), warning: t("webhooks.secret.warning"), label: t("webhooks.secret.label"),
  copied: t("webhooks.secret.copied"), done: t("webhooks.secret.done"),
});

/** The webhook without the secret a creation or rotation answered with (shown once, never kept). */
function withoutSecret({ secret: _, ...webhook }) {
  return webhook;
}

// ---------- the form's fields ----------

/** The address, description and events inputs (ids prefixed with `prefix`), filled from
 *  `webhook` (none for a new one). `values()` checks them and answers them, or null after
 *  showing what is wrong; `showRefusal(error)` shows the server's detail next to the field it
 *  is about (under the form otherwise). */
function webhookFields(webhook, prefix) {
  const id = (name) => `${prefix}-${name}`;
  const url = h("input", { type: "url", id: id("url"), name: "url", required: true, autocomplete: "off", spellcheck: "false", class: "mono", value: webhook?.url });
  const description = h("input", { type: "text", id: id("description"), name: "description", autocomplete: "off", value: webhook?.description ?? "" });
  const all = Boolean(webhook && takesAll(webhook.events));
  const allRadio = h("input", { type: "radio", name: id("scope"), id: id("events-all"), checked: all });
  const someRadio = h("input", { type: "radio", name: id("scope"), id: id("events-some"), checked: !all });
  const boxes = EVENT_TYPES.map((type) => h("input", {
    type: "checkbox", id: id(`event-${type.replace(/[._]/g, "-")}`), value: type, checked: !all && Boolean(webhook?.events.includes(type)),
  }));
  const picker = h("div", { class: "event-list", role: "group", "aria-label": t("webhooks.chosenEvents") },
    boxes.map((box) => h("label", { class: "toggle", for: box.id }, box, eventLabel(box.value))));
  const sync = () => { picker.hidden = allRadio.checked; };
  allRadio.addEventListener("change", sync);
  someRadio.addEventListener("change", sync);
  sync();

  const errors = new Map(); // input → the message shown under it
  const problem = (input) => {
    const error = h("p", { class: "error", id: `${input.id}-error`, role: "alert" });
    errors.set(input, error);
    return error;
  };
  const urlError = problem(url);
  const eventsError = problem(picker);
  const descriptionError = problem(description);
  const general = h("p", { class: "error", role: "alert" });
  url.setAttribute("aria-describedby", `${id("url-help")} ${urlError.id}`);
  description.setAttribute("aria-describedby", descriptionError.id);
  const element = h("div", { class: "webhook-fields" },
    h("div", { class: "field" }, h("label", { for: url.id }, t("webhooks.urlField")), url,
      h("p", { class: "muted", id: id("url-help") }, t("webhooks.urlHelp")), urlError),
    h("div", { class: "field" }, h("label", { for: description.id }, t("webhooks.descriptionField")), description, descriptionError),
    h("fieldset", { id: id("events") }, h("legend", {}, t("webhooks.eventsTitle")),
      h("label", { class: "toggle", for: allRadio.id }, allRadio, t("webhooks.allEvents")),
      h("label", { class: "toggle", for: someRadio.id }, someRadio, t("webhooks.someEvents")),
      picker, eventsError),
    general);

  function clear() {
    general.textContent = "";
    for (const [input, error] of errors) { error.textContent = ""; input.removeAttribute("aria-invalid"); }
  }
  function mark(input, message) {
    errors.get(input).textContent = message;
    input.setAttribute("aria-invalid", "true");
    (input === picker ? (allRadio.checked ? allRadio : boxes[0]) : input).focus();
  }
  function values() {
    clear();
    const address = url.value.trim();
    let parsed = null;
    try { parsed = new URL(address); } catch { /* told below */ }
    const events = allRadio.checked ? ALL : boxes.filter((box) => box.checked).map((box) => box.value);
    if (!address) mark(url, t("webhooks.urlRequired"));
    else if (!parsed || !/^https?:$/.test(parsed.protocol)) mark(url, t("webhooks.urlInvalid"));
    else if (events.length === 0) mark(picker, t("webhooks.eventsRequired"));
    else return { url: address, description: description.value.trim() || null, events };
    return null;
  }
  function showRefusal(err) {
    clear();
    const detail = t("refused", { detail: err.message });
    const about = (word) => err.message.toLowerCase().includes(word);
    if (err.code === "invalid_url" || about("url")) mark(url, detail);
    else if (about("event")) mark(picker, detail);
    else if (about("description")) mark(description, detail);
    else general.textContent = detail;
  }
  return { element, values, showRefusal, focus: () => url.focus() };
}

function formActions(saveText, d) {
  return h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, saveText),
    d ? h("button", { type: "button", onclick: () => d.close() }, t("cancel")) : null);
}

// ---------- the list ----------

function addWebhookDialog() {
  const fields = webhookFields(null, "new");
  const enabled = h("input", { type: "checkbox", id: "new-enabled", checked: true });
  const form = h("form", {
    novalidate: true, // our own messages, in the page's language, read by screen readers
    onsubmit: async (e) => {
      e.preventDefault();
      const values = fields.values();
      if (!values) return;
      const { description, ...rest } = values;
      try {
        const created = await api("POST", "/webhooks", { ...rest, ...(description ? { description } : {}), enabled: enabled.checked });
        d.close();
        showSecret(created.secret, () => { location.hash = `#/webhooks/${created.id}`; }, secretTexts());
      } catch (err) {
        if (isRefusal(err)) fields.showRefusal(err); else { d.close(); fail(err); }
      }
    },
  }, fields.element, h("label", { class: "toggle", for: enabled.id }, enabled, t("webhooks.enableNow")));
  const d = dialog(t("webhooks.addTitle"), form);
  form.append(formActions(t("save"), d));
  fields.focus();
}

function eventsSummary(events) {
  if (takesAll(events)) return t("webhooks.allEventsShort");
  return events.flatMap((type, i) => [i ? ", " : "", h("code", {}, type)]);
}

/** The Webhooks tab: every address with its state, and the button that adds one. */
export async function webhooksView() {
  const columns = ["colUrl", "colEvents", "colState", "colCreated"].map((name) => t(`webhooks.${name}`));
  const tbody = h("tbody");
  const table = h("table", {}, h("caption", { class: "sr-only" }, t("webhooks.title")),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), tbody);
  const empty = h("div", { class: "panel empty", hidden: true }, h("h2", {}, t("webhooks.emptyTitle")), h("p", {}, t("webhooks.emptyText")));
  const more = h("button", { type: "button", hidden: true }, t("more"));
  let cursor = null;

  const row = (w) => h("tr", {},
    h("td", { "data-label": columns[0] }, h("a", { href: `#/webhooks/${w.id}`, class: "mono" }, w.url),
      w.description ? [h("br"), h("span", { class: "muted" }, w.description)] : null),
    h("td", { "data-label": columns[1] }, eventsSummary(w.events)),
    h("td", { "data-label": columns[2] }, stateBadge(w)),
    h("td", { "data-label": columns[3] }, formatDate(w.created_at), h("br"),
      h("span", { class: "muted" }, t("by", { name: w.created_by.name || w.created_by.id }))));

  async function load(reset, initial = false) {
    const params = new URLSearchParams({ limit: String(LIST_PAGE) });
    if (!reset && cursor) params.set("cursor", cursor);
    try {
      const page = await api("GET", `/webhooks?${params}`);
      if (reset) tbody.replaceChildren();
      tbody.append(...page.data.map(row));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const none = tbody.children.length === 0;
      table.hidden = none;
      empty.hidden = !none;
    } catch (err) {
      if (initial) throw err; // the first load decides the page: sign-in, refusal or list
      fail(err);
    }
  }
  more.addEventListener("click", () => load(false));

  const head = [h("h1", {}, t("title")), helpLinks(), sectionTabs("webhooks")];
  try {
    await load(true, true);
  } catch (err) {
    // A deployment without the webhooks service answers 404: the tab says so, the rest works.
    if (err instanceof ApiError && err.status === 404) return h("section", {}, head, h("p", { class: "panel warning" }, t("webhooks.unavailable")));
    throw err;
  }
  return h("section", {}, head,
    h("div", { class: "toolbar" },
      h("p", { class: "grow muted" }, t("webhooks.intro")),
      h("button", { class: "primary", type: "button", onclick: addWebhookDialog }, t("webhooks.add"))),
    table, empty, h("p", {}, more));
}

// ---------- one webhook ----------

/** Its facts and actions: enable or disable, send a test (its outcome told in `testResult`),
 *  rotate the secret, delete. `show` redraws the page with the webhook the server answers. */
function factsPanel(webhook, show, testResult, log) {
  const path = `/webhooks/${encodeURIComponent(webhook.id)}`;
  const toggle = async () => {
    try {
      const updated = await api("PATCH", path, { enabled: !webhook.enabled });
      show(updated);
      document.querySelector("#webhook-actions button")?.focus(); // the redrawn toggle
      announce(t(updated.enabled ? "webhooks.enabledNow" : "webhooks.disabledNow"));
    } catch (err) { fail(err); }
  };
  const sendTest = async () => {
    testResult.classList.remove("error");
    testResult.textContent = t("webhooks.testing");
    try {
      const delivery = await api("POST", `${path}/test`);
      testResult.classList.toggle("error", delivery.status !== "delivered");
      testResult.textContent = t("webhooks.testResult", { outcome: outcome(delivery) });
      log.reload();
    } catch (err) { testResult.textContent = ""; fail(err); }
  };
  const rotate = () => confirmDialog(t("webhooks.rotateTitle"), t("webhooks.rotateText"), t("webhooks.rotate"), async () => {
    const rotated = await api("POST", `${path}/rotate-secret`);
    show(withoutSecret(rotated));
    const note = rotated.previous_secret_expires_at ? t("webhooks.previousSigns", { date: formatDate(rotated.previous_secret_expires_at) }) : null;
    showSecret(rotated.secret, null, secretTexts(), note);
  });
  const remove = () => confirmDialog(t("webhooks.deleteTitle"), t("webhooks.deleteText"), t("delete"), async () => {
    await api("DELETE", path);
    announce(t("webhooks.deleted"));
    location.hash = "#/webhooks";
  }, { danger: true });

  const f = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  const previous = webhook.previous_secret_expires_at && new Date(webhook.previous_secret_expires_at) > new Date()
    ? f(t("webhooks.facts.previousSecret"), t("webhooks.previousUntil", { date: formatDate(webhook.previous_secret_expires_at) })) : [];
  return h("div", { class: "panel" },
    h("dl", { class: "facts" },
      f(t("webhooks.facts.url"), h("span", { class: "mono" }, webhook.url)),
      f(t("webhooks.facts.description"), webhook.description || t("none")),
      f(t("webhooks.facts.state"), stateBadge(webhook)),
      f(t("webhooks.facts.events"), takesAll(webhook.events) ? t("webhooks.allEvents")
        : h("ul", { class: "event-names" }, webhook.events.map((type) => h("li", {}, eventLabel(type))))),
      f(t("webhooks.facts.created"), [formatDate(webhook.created_at), " ", t("by", { name: webhook.created_by.name || webhook.created_by.id })]),
      f(t("webhooks.facts.updated"), formatDate(webhook.updated_at)),
      previous),
    h("p", { class: "actions", id: "webhook-actions" },
      h("button", { type: "button", onclick: toggle }, t(webhook.enabled ? "webhooks.disable" : "webhooks.enable")),
      h("button", { type: "button", onclick: sendTest }, t("webhooks.test")),
      h("button", { type: "button", onclick: rotate }, t("webhooks.rotate")),
      h("button", { type: "button", class: "danger", onclick: remove }, t("delete"))),
    testResult);
}

/** The form that changes the address, description and events; sends only what changed. */
function editPanel(webhook, show) {
  const fields = webhookFields(webhook, "edit");
  return h("form", {
    class: "panel", id: "webhook-edit", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      const values = fields.values();
      if (!values) return;
      const same = (name, value) => (name === "events"
        ? JSON.stringify([...value].sort()) === JSON.stringify([...webhook.events].sort())
        : value === (webhook[name] ?? null));
      const changes = Object.fromEntries(Object.entries(values).filter(([name, value]) => !same(name, value)));
      if (Object.keys(changes).length === 0) { announce(t("noChanges")); return; }
      try {
        show(await api("PATCH", `/webhooks/${encodeURIComponent(webhook.id)}`, changes));
        announce(t("saved"));
      } catch (err) {
        if (isRefusal(err)) fields.showRefusal(err); else fail(err);
      }
    },
  }, h("h2", {}, t("webhooks.editTitle")), fields.element, formActions(t("webhooks.saveChanges")));
}

/** The delivery log, newest first: each message with its attempts, and a retry button for
 *  those not delivered. `reload()` reads it again from the start. */
function deliveryLog(webhook) {
  const path = `/webhooks/${encodeURIComponent(webhook.id)}/deliveries`;
  const columns = ["colMessage", "colCreated", "colStatus", "colAttempts", "colAction"].map((name) => t(`webhooks.${name}`));
  const tbody = h("tbody");
  const table = h("table", { class: "deliveries", hidden: true }, h("caption", { class: "sr-only" }, t("webhooks.logTitle")),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), tbody);
  const empty = h("p", { class: "muted", hidden: true }, t("webhooks.logEmpty"));
  const more = h("button", { type: "button", hidden: true }, t("more"));
  let cursor = null;

  async function retry(delivery, tr) {
    try {
      const updated = await api("POST", `${path}/${encodeURIComponent(delivery.id)}/retry`);
      tr.replaceWith(row(updated));
      announce(t("webhooks.retried", { outcome: outcome(updated) }));
    } catch (err) { fail(err); }
  }
  function row(delivery) {
    const tr = h("tr", {},
      h("th", { scope: "row" }, eventName(delivery.type), h("br"), h("code", { class: "muted" }, delivery.type), " ",
        h("code", { class: "muted" }, delivery.id)),
      h("td", { "data-label": columns[1] }, formatDate(delivery.created_at)),
      h("td", { "data-label": columns[2] }, deliveryBadge(delivery),
        delivery.next_attempt_at ? [h("br"), h("span", { class: "muted" }, t("webhooks.nextAttempt", { date: formatDate(delivery.next_attempt_at) }))] : null),
      h("td", { "data-label": columns[3] }, delivery.attempts.length
        ? h("ol", { class: "attempts" }, delivery.attempts.map((a) => h("li", {}, formatDate(a.at), " — ", attemptText(a))))
        : h("span", { class: "muted" }, t("webhooks.noAttempt"))),
      h("td", { "data-label": columns[4] }, delivery.status === "delivered" ? null
        : h("button", { type: "button", onclick: () => retry(delivery, tr) }, t("webhooks.retry"))));
    return tr;
  }
  let element;
  async function load(reset) {
    const params = new URLSearchParams({ limit: String(LOG_PAGE) });
    if (!reset && cursor) params.set("cursor", cursor);
    element?.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `${path}?${params}`);
      if (reset) tbody.replaceChildren();
      tbody.append(...page.data.map(row));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      table.hidden = tbody.children.length === 0;
      empty.hidden = !table.hidden;
    } catch (err) { fail(err); } finally { element.removeAttribute("aria-busy"); }
  }
  more.addEventListener("click", () => load(false));
  element = h("section", { class: "panel", id: "deliveries", "aria-labelledby": "deliveries-title", "aria-busy": "true" },
    h("h2", { id: "deliveries-title" }, t("webhooks.logTitle")),
    h("p", { class: "muted" }, t("webhooks.logIntro")),
    h("p", {}, h("button", { type: "button", onclick: () => load(true) }, t("webhooks.refresh"))),
    table, empty, h("p", {}, more));
  load(true);
  return { element, reload: () => load(true) };
}

/** A webhook's page: its state (and why the service disabled it), facts and actions, its
 *  settings, and its delivery log. */
export async function webhookView(id) {
  let webhook;
  try { webhook = await api("GET", `/webhooks/${encodeURIComponent(id)}`); } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return h("section", { class: "panel" }, h("h1", {}, t("webhooks.notFound")), h("p", {}, h("a", { href: "#/webhooks" }, t("webhooks.back"))));
    }
    throw err;
  }
  const log = deliveryLog(webhook);
  const testResult = h("p", { id: "test-result", "aria-live": "polite" });
  const host = h("div", {});
  function show(shown) {
    host.replaceChildren(...[
      h("h1", {}, shown.description || shown.url),
      stateOf(shown) === "failing" ? h("div", { class: "panel leak", role: "alert" },
        h("h2", {}, t("webhooks.states.failing")), h("p", {}, t("webhooks.failingText"))) : null,
      factsPanel(shown, show, testResult, log),
      editPanel(shown, show),
    ].filter(Boolean));
  }
  show(webhook);
  return h("section", {},
    h("p", {}, h("a", { href: "#/webhooks" }, "← ", t("webhooks.back"))),
    host, log.element);
}
