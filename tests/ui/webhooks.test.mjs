// Browser tests of the Webhooks tab: the list and each webhook's page (add with the secret
// shown once, events, disable, rotate, test, the delivery log and its retries), against a
// webhooks service played in the page; then the real service delivering to a receiver of the
// tests, and a deployment without it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { answerJson, api, app, mocking, shot, signedIn, useApp } from "./harness.mjs";

useApp();

// ---------- webhooks (the webhooks routes are mocked in the page) ----------

const WEBHOOK_TIME = "2026-12-06T10:00:00Z";

/** A webhook as the server answers it. */
function webhook(id, changes = {}) {
  return { id, url: `https://partner.example/hooks/${id}`, description: null, events: ["key.created", "key.leak_reported"],
    enabled: true, disabled_reason: null, created_at: WEBHOOK_TIME, created_by: { id: "u-2002", name: "Dominique Leroy" },
    updated_at: WEBHOOK_TIME, previous_secret_expires_at: null, ...changes };
}

/** A delivery attempt and a message of the log. */
const attempt = (at, http_status, duration_ms, error = null) => ({ at, http_status, error, duration_ms });
function delivery(id, status, attempts, changes = {}) {
  return { id, type: "key.created", status, created_at: attempts[0]?.at ?? WEBHOOK_TIME, attempts, next_attempt_at: null, ...changes };
}
const DELIVERED = delivery("msg_ok", "delivered", [attempt("2026-12-06T10:00:01Z", 200, 35)]);

/** A webhooks service played in the page: `hooks` (by id) and `logs` (messages by webhook id)
 *  change as the calls ask; every call lands in `calls` ({method, path, body}); `answers`
 *  ("METHOD /path" → {status, body}) replaces the service's answer for a call. */
function webhooksService(hooks, { logs = {}, answers = {}, testDelivery = DELIVERED } = {}) {
  const calls = [];
  const handler = (route) => {
    const request = route.request();
    const url = new URL(request.url());
    const path = url.pathname.slice("/api/v1".length);
    const method = request.method();
    const body = request.postDataJSON();
    calls.push({ method, path, body });
    const fixed = answers[`${method} ${path}`];
    if (fixed) return answerJson(route, fixed.body, fixed.status);
    const [, , id, action, messageId, retry] = path.split("/");
    const hook = hooks[id];
    const notFound = () => answerJson(route, { type: "about:blank", title: "Not Found", status: 404, code: "not_found", detail: "no such webhook" }, 404);
    if (!id && method === "GET") return answerJson(route, { data: Object.values(hooks), next_cursor: null });
    if (!id && method === "POST") {
      const created = webhook("wh_created", { ...body, description: body.description ?? null });
      hooks[created.id] = created;
      return answerJson(route, { ...created, secret: "whsec_Y3JlYXRlZC1zZWNyZXQtb2YtdGhlLXRlc3Q=" }, 201);
    }
    if (!hook) return notFound();
    if (!action && method === "GET") return answerJson(route, hook);
    if (!action && method === "PATCH") {
      hooks[id] = { ...hook, ...body, disabled_reason: body.enabled === undefined ? hook.disabled_reason : null, updated_at: "2026-12-06T11:00:00Z" };
      return answerJson(route, hooks[id]);
    }
    if (!action && method === "DELETE") { delete hooks[id]; return route.fulfill({ status: 204 }); }
    if (action === "rotate-secret") {
      hooks[id] = { ...hook, previous_secret_expires_at: new Date(Date.now() + 86400e3).toISOString().replace(/\.\d+Z$/, "Z") };
      return answerJson(route, { ...hooks[id], secret: "whsec_cm90YXRlZC1zZWNyZXQtb2YtdGhlLXRlc3Q=" });
    }
    if (action === "test") return answerJson(route, { ...testDelivery, type: "webhook.test" });
    if (action === "deliveries" && !messageId) return answerJson(route, { data: logs[id] ?? [], next_cursor: null });
    if (action === "deliveries" && retry === "retry") {
      const log = logs[id] ?? [];
      const index = log.findIndex((d) => d.id === messageId);
      if (index < 0) return notFound();
      log[index] = { ...log[index], status: "delivered", next_attempt_at: null,
        attempts: [...log[index].attempts, attempt("2026-12-06T12:00:00Z", 200, 42)] };
      return answerJson(route, log[index]);
    }
    return notFound();
  };
  return { calls, route: [(url) => url.pathname.startsWith("/api/v1/webhooks"), handler] };
}

/** The calls of `service` other than reads. */
const changesSent = (service) => service.calls.filter((c) => c.method !== "GET").map(({ method, path, body }) => ({ method, path, body }));

/** Goes from the keys' list of `page` to the Webhooks tab. */
async function clickWebhooksTab(page) {
  await page.evaluate(() => { location.hash = "#/"; });
  const tabs = page.getByRole("navigation", { name: "Rubriques des APIs externes" });
  await tabs.getByRole("link", { name: "Clés d'API" }).and(page.locator("[aria-current=page]")).waitFor();
  await tabs.getByRole("link", { name: "Webhooks", exact: true }).click();
}

/** Opens the Webhooks tab of `page` from the keys' list. */
async function openWebhooks(page) {
  await clickWebhooksTab(page);
  await page.getByRole("button", { name: "Ajouter un webhook" }).waitFor();
}

/** Opens the page of webhook `id` in `page` afresh (from the list, as its address may
 *  already be the page's) and waits for its delivery log. */
async function openWebhook(page, id) {
  await openWebhooks(page);
  await page.evaluate((hash) => { location.hash = hash; }, `#/webhooks/${id}`);
  await page.locator("#deliveries:not([aria-busy])").waitFor();
}

test("the Webhooks tab lists each webhook with its state, and says when the service disabled one for failing deliveries", async () => {
  const page = await signedIn();
  const service = webhooksService({
    wh_on: webhook("wh_on", { description: "Welyb alertes" }),
    wh_off: webhook("wh_off", { enabled: false, events: ["*"] }),
    wh_failing: webhook("wh_failing", { enabled: false, disabled_reason: "failing", description: "Ancien récepteur" }),
  });
  await mocking(page, [service.route], async () => {
    await openWebhooks(page);
    const tab = page.getByRole("link", { name: "Webhooks", exact: true });
    assert.equal(await tab.getAttribute("aria-current"), "page");
    assert.equal(await page.getByRole("link", { name: "Clés d'API" }).getAttribute("aria-current"), null);
    const state = (id) => page.getByRole("row", { name: new RegExp(`hooks/${id}`) }).locator("td").nth(2).innerText();
    assert.equal(await state("wh_on"), "Actif");
    assert.equal(await state("wh_off"), "Désactivé");
    assert.equal(await state("wh_failing"), "Désactivé : échecs de livraison depuis 5 jours");
    assert.equal(await page.getByRole("row", { name: /hooks\/wh_off/ }).locator("td").nth(1).innerText(), "Tous les événements");
    assert.equal(await page.getByRole("row", { name: /hooks\/wh_on/ }).locator("td").nth(1).innerText(), "key.created, key.leak_reported");
    await page.getByRole("row", { name: /Welyb alertes/ }).waitFor();
    await shot(page, "12-webhooks");

    await page.getByRole("link", { name: "https://partner.example/hooks/wh_failing" }).click();
    const notice = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Désactivé : échecs de livraison depuis 5 jours" }) });
    await notice.getByText("tous ses messages ont échoué pendant 5 jours").waitFor();
    assert.ok(await page.getByRole("button", { name: "Réactiver" }).isVisible());
    await shot(page, "17-webhook-disabled-failing");

    await page.getByLabel("Langue").selectOption("en");
    await page.getByRole("heading", { name: "Disabled: deliveries failing for 5 days" }).waitFor();
    await page.getByText("every message failed for 5 days").waitFor();
    await page.getByRole("link", { name: "All webhooks" }).click();
    await page.getByRole("button", { name: "Add a webhook" }).waitFor();
    await page.getByRole("row", { name: /hooks\/wh_failing/ }).getByText("Disabled: deliveries failing for 5 days").waitFor();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("button", { name: "Ajouter un webhook" }).waitFor();
  });
});

test("adding a webhook sends the chosen events and shows its secret once, to copy", async () => {
  const page = await signedIn();
  const service = webhooksService({});
  await mocking(page, [service.route], async () => {
    await openWebhooks(page);
    await page.getByRole("heading", { name: "Aucun webhook" }).waitFor();
    await page.getByRole("button", { name: "Ajouter un webhook" }).click();
    const dialog = page.getByRole("dialog", { name: "Ajouter un webhook" });
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText("Saisissez l'adresse du webhook.").waitFor();
    await dialog.getByLabel("Adresse (URL HTTPS)").fill("https://welyb.example/ingeneo/events");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText("Choisissez au moins un événement, ou tous les événements.").waitFor();
    assert.deepEqual(changesSent(service), [], "nothing is sent before the form is complete");
    await dialog.getByLabel("Description (facultative)").fill("Welyb production");
    await dialog.getByLabel(/Clé créée/).check();
    await dialog.getByLabel(/Fuite signalée \(clé trouvée publiée\)/).check();
    await dialog.getByLabel(/Expiration proche/).check();
    await shot(page, "13-webhook-add");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();

    const secretDialog = page.getByRole("dialog", { name: "Secret de signature du webhook" });
    const shown = await secretDialog.getByLabel("Secret de signature").inputValue();
    assert.equal(shown, "whsec_Y3JlYXRlZC1zZWNyZXQtb2YtdGhlLXRlc3Q=");
    assert.deepEqual(changesSent(service), [{ method: "POST", path: "/webhooks", body: {
      url: "https://welyb.example/ingeneo/events", events: ["key.created", "key.leak_reported", "key.expiring"],
      description: "Welyb production", enabled: true } }]);
    await secretDialog.getByText("il ne sera plus jamais affiché").waitFor();
    await secretDialog.getByRole("button", { name: "Copier" }).click();
    await page.getByRole("status").filter({ hasText: "Secret copié dans le presse-papiers." }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown);
    await shot(page, "14-webhook-secret-shown-once");
    await secretDialog.getByRole("button", { name: "J'ai copié le secret" }).click();

    await page.getByRole("heading", { name: "Welyb production", level: 1 }).waitFor();
    assert.ok(page.url().endsWith("#/webhooks/wh_created"));
    assert.ok(!(await page.content()).includes(shown), "the secret is gone from the page");
  });
});

test("an address the server refuses shows its detail next to the field, and the dialog stays open", async () => {
  const page = await signedIn();
  const detail = "url: http://10.0.0.7/hook is outside webhook_origin (https://*)";
  const service = webhooksService({}, { answers: { "POST /webhooks": { status: 422, body: {
    type: "about:blank", title: "Unprocessable Entity", status: 422, code: "invalid_url", detail } } } });
  await mocking(page, [service.route], async () => {
    await openWebhooks(page);
    await page.getByRole("button", { name: "Ajouter un webhook" }).click();
    const dialog = page.getByRole("dialog", { name: "Ajouter un webhook" });
    const url = dialog.getByLabel("Adresse (URL HTTPS)");
    await url.fill("http://10.0.0.7/hook");
    await dialog.getByLabel("Tous les événements, y compris les futurs (*)").check();
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText(`Valeur refusée : ${detail}`).waitFor();
    assert.deepEqual(changesSent(service)[0].body, { url: "http://10.0.0.7/hook", events: ["*"], enabled: true });
    assert.equal(await url.getAttribute("aria-invalid"), "true");
    assert.match(await url.getAttribute("aria-describedby"), /\bnew-url-error\b/);
    assert.equal(await page.getByRole("dialog", { name: "Secret de signature du webhook" }).count(), 0);
    await dialog.getByRole("button", { name: "Annuler" }).click();
    await dialog.waitFor({ state: "detached" });
  });
});

test("a webhook's page disables and re-enables it, and saves the events chosen", async () => {
  const page = await signedIn();
  const service = webhooksService({ wh_on: webhook("wh_on", { description: "Welyb alertes" }) });
  await mocking(page, [service.route], async () => {
    await openWebhook(page, "wh_on");
    const facts = page.locator(".facts");
    assert.equal(await facts.getByText("Actif").count(), 1);
    await page.getByRole("button", { name: "Désactiver" }).click();
    await page.getByRole("status").filter({ hasText: "Webhook désactivé" }).waitFor();
    await facts.getByText("Désactivé", { exact: true }).waitFor();
    await page.getByRole("button", { name: "Réactiver" }).click();
    await page.getByRole("status").filter({ hasText: "Webhook réactivé" }).waitFor();
    await facts.getByText("Actif", { exact: true }).waitFor();

    const settings = page.locator("#webhook-edit");
    assert.ok(await settings.getByLabel(/Clé créée/).isChecked());
    await settings.getByLabel("Tous les événements, y compris les futurs (*)").check();
    await settings.getByRole("button", { name: "Enregistrer les réglages" }).click();
    await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
    await facts.getByText("Tous les événements, y compris les futurs (*)").waitFor();
    assert.deepEqual(changesSent(service), [
      { method: "PATCH", path: "/webhooks/wh_on", body: { enabled: false } },
      { method: "PATCH", path: "/webhooks/wh_on", body: { enabled: true } },
      { method: "PATCH", path: "/webhooks/wh_on", body: { events: ["*"] } },
    ]);
  });
});

test("rotating the secret shows the new one once and says the old one keeps signing for 24 hours", async () => {
  const page = await signedIn();
  const service = webhooksService({ wh_on: webhook("wh_on") });
  await mocking(page, [service.route], async () => {
    await openWebhook(page, "wh_on");
    await page.getByRole("button", { name: "Renouveler le secret" }).click();
    const confirm = page.getByRole("dialog", { name: "Renouveler le secret de signature" });
    await confirm.getByText(/pendant 24 heures/).waitFor();
    assert.deepEqual(changesSent(service), [], "nothing before the confirmation");
    await confirm.getByRole("button", { name: "Renouveler le secret" }).click();
    const secretDialog = page.getByRole("dialog", { name: "Secret de signature du webhook" });
    assert.equal(await secretDialog.getByLabel("Secret de signature").inputValue(), "whsec_cm90YXRlZC1zZWNyZXQtb2YtdGhlLXRlc3Q=");
    await secretDialog.getByText(/^L'ancien secret continue de signer les messages, à côté du nouveau, pendant 24 h : jusqu'au /).waitFor();
    await secretDialog.getByRole("button", { name: "J'ai copié le secret" }).click();
    await page.locator(".facts").getByText(/^Signe encore jusqu'au /).waitFor();
    assert.deepEqual(changesSent(service), [{ method: "POST", path: "/webhooks/wh_on/rotate-secret", body: null }]);
  });
});

test("sending a test message shows its outcome: delivered, or the error", async () => {
  const page = await signedIn();
  const delivered = webhooksService({ wh_on: webhook("wh_on") });
  await mocking(page, [delivered.route], async () => {
    await openWebhook(page, "wh_on");
    await page.getByRole("button", { name: "Envoyer un test" }).click();
    await page.getByText("Résultat du test : Livré (HTTP 200, 35 ms)").waitFor();
    assert.deepEqual(changesSent(delivered), [{ method: "POST", path: "/webhooks/wh_on/test", body: null }]);
  });
  const refused = webhooksService({ wh_on: webhook("wh_on") }, {
    testDelivery: delivery("msg_test", "failed", [attempt("2026-12-06T10:00:01Z", null, 10002, "connection refused")]) });
  await mocking(page, [refused.route], async () => {
    await openWebhook(page, "wh_on");
    await page.getByRole("button", { name: "Envoyer un test" }).click();
    await page.getByText(/^Résultat du test : Échec \(connection refused, 10\s002 ms\)$/).waitFor();
    await page.getByLabel("Langue").selectOption("en");
    await page.getByRole("button", { name: "Send a test" }).click();
    await page.getByText("Test result: Failed (connection refused, 10,002 ms)").waitFor();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("button", { name: "Envoyer un test" }).waitFor();
  });
});

test("the delivery log shows each message with its attempts, and Retry sends a failed one again", async () => {
  const page = await signedIn();
  const failed = delivery("msg_failed", "failed", [
    attempt("2026-12-06T08:00:00Z", 500, 120), attempt("2026-12-06T08:00:05Z", null, 10002, "connection refused")], { type: "key.leak_reported" });
  const pending = delivery("msg_pending", "pending", [attempt("2026-12-06T09:00:00Z", 503, 80)],
    { type: "key.deactivated", next_attempt_at: "2026-12-06T09:05:00Z" });
  const service = webhooksService({ wh_on: webhook("wh_on") }, { logs: { wh_on: [pending, failed, DELIVERED] } });
  await mocking(page, [service.route], async () => {
    await openWebhook(page, "wh_on");
    const log = page.getByRole("table", { name: "Journal des livraisons" });
    const row = (id) => log.getByRole("row", { name: new RegExp(id) });
    await row("msg_failed").waitFor();
    assert.deepEqual(await row("msg_failed").locator(".attempts li").allInnerTexts(),
      [`${await formatted(page, "2026-12-06T08:00:00Z")} — HTTP 500, 120 ms`, `${await formatted(page, "2026-12-06T08:00:05Z")} — connection refused, 10\u202f002 ms`]);
    assert.match(await row("msg_failed").innerText(), /Fuite signalée \(clé trouvée publiée\)/);
    assert.match(await row("msg_failed").locator("td").nth(1).innerText(), /^Échec$/);
    assert.match(await row("msg_pending").locator("td").nth(1).innerText(), /^En attente\nProchain essai : /);
    assert.equal(await row("msg_ok").locator("td").nth(1).innerText(), "Livré");
    assert.equal(await row("msg_ok").getByRole("button", { name: "Réessayer" }).count(), 0, "a delivered message is not retried");
    assert.equal(await row("msg_pending").getByRole("button", { name: "Réessayer" }).count(), 1);
    await shot(page, "15-webhook-delivery-log");

    await row("msg_failed").getByRole("button", { name: "Réessayer" }).click();
    await page.getByRole("status").filter({ hasText: "Nouvel essai : Livré (HTTP 200, 42 ms)" }).waitFor();
    assert.deepEqual(changesSent(service), [{ method: "POST", path: "/webhooks/wh_on/deliveries/msg_failed/retry", body: null }]);
    assert.equal(await row("msg_failed").locator("td").nth(1).innerText(), "Livré");
    assert.equal(await row("msg_failed").locator(".attempts li").count(), 3);
    assert.equal(await row("msg_failed").getByRole("button", { name: "Réessayer" }).count(), 0);

    await page.getByLabel("Langue").selectOption("en");
    const english = page.getByRole("table", { name: "Delivery log" });
    await english.getByRole("row", { name: /msg_pending/ }).getByRole("button", { name: "Retry" }).waitFor();
    await english.getByRole("columnheader", { name: "Attempts" }).waitFor();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("table", { name: "Journal des livraisons" }).waitFor();
  });
});

/** A time as the screen of `page` shows it in French (the browser's time zone). */
function formatted(page, iso) {
  return page.evaluate((value) => new Intl.DateTimeFormat("fr-FR", { dateStyle: "medium", timeStyle: "short" }).format(new Date(value)), iso);
}

test("deleting a webhook asks for confirmation first", async () => {
  const page = await signedIn();
  const service = webhooksService({ wh_on: webhook("wh_on"), wh_other: webhook("wh_other") });
  await mocking(page, [service.route], async () => {
    await openWebhook(page, "wh_on");
    await page.getByRole("button", { name: "Supprimer" }).click();
    const dialog = page.getByRole("dialog", { name: "Supprimer le webhook" });
    await dialog.getByText("Cette adresse ne recevra plus aucun message").waitFor();
    await dialog.getByRole("button", { name: "Annuler" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.deepEqual(changesSent(service), []);
    await page.getByRole("button", { name: "Supprimer" }).click();
    await dialog.getByRole("button", { name: "Supprimer" }).click();
    await page.getByRole("status").filter({ hasText: "Webhook supprimé." }).waitFor();
    await page.getByRole("button", { name: "Ajouter un webhook" }).waitFor();
    await page.getByRole("row", { name: /hooks\/wh_other/ }).waitFor();
    assert.equal(await page.getByRole("row", { name: /hooks\/wh_on/ }).count(), 0);
    assert.deepEqual(changesSent(service), [{ method: "DELETE", path: "/webhooks/wh_on", body: null }]);
  });
});

test("on the real server, a webhook added in the tab gets key.created signed with its secret, and its log and test say delivered", async () => {
  const page = await signedIn();
  await openWebhooks(page);
  await page.getByRole("button", { name: "Ajouter un webhook" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter un webhook" });
  await dialog.getByLabel("Adresse (URL HTTPS)").fill(`${app.providerOrigin}/hook`);
  await dialog.getByLabel("Description (facultative)").fill("Récepteur réel");
  await dialog.getByLabel(/Clé créée/).check();
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  const secretDialog = page.getByRole("dialog", { name: "Secret de signature du webhook" });
  const shown = await secretDialog.getByLabel("Secret de signature").inputValue();
  assert.match(shown, /^whsec_[A-Za-z0-9+/]{43}=$/);
  await secretDialog.getByRole("button", { name: "J'ai copié le secret" }).click();
  await page.getByRole("heading", { name: "Récepteur réel", level: 1 }).waitFor();
  const id = page.url().split("#/webhooks/")[1];
  assert.match(id, /^wh_/);

  const { body: key } = await api("POST", "/keys", { label: "Clé notifiée" });
  const deadline = Date.now() + 10_000;
  let message;
  while (!(message = app.hooks.find((h) => JSON.parse(h.body).type === "key.created"))) {
    assert.ok(Date.now() < deadline, "key.created never arrived");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(JSON.parse(message.body).data.key.id, key.id);
  const signed = `${message.headers["webhook-id"]}.${message.headers["webhook-timestamp"]}.${message.body}`;
  const expected = `v1,${createHmac("sha256", Buffer.from(shown.slice("whsec_".length), "base64")).update(signed).digest("base64")}`;
  assert.deepEqual(message.headers["webhook-signature"].split(" "), [expected]);

  for (;;) {
    const { body: log } = await api("GET", `/webhooks/${id}/deliveries`);
    if (log.data[0]?.status === "delivered") break;
    assert.ok(Date.now() < deadline, `never delivered: ${JSON.stringify(log)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await openWebhook(page, id);
  await page.getByRole("row", { name: /key\.created/ }).getByText("Livré", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Envoyer un test" }).click();
  await page.getByText(/^Résultat du test : Livré \(HTTP 204, /).waitFor();
  assert.ok(app.hooks.some((h) => JSON.parse(h.body).type === "webhook.test"));

  assert.equal((await api("DELETE", `/webhooks/${id}`)).status, 204);
  assert.equal((await api("DELETE", `/keys/${key.id}`)).status, 204);
});

test("on a deployment without the webhooks service, the tab says so", async () => {
  const page = await signedIn();
  // A deployment that does not run the webhooks component (spin up -c ...): its routes fall
  // to manage-keys, which answers 404 "no route".
  const absent = (route) => route.fulfill({
    status: 404,
    contentType: "application/problem+json",
    body: JSON.stringify({ type: "about:blank", title: "Not found", status: 404, detail: "no route for /api/v1/webhooks", code: "not_found" }),
  });
  await page.route("**/api/v1/webhooks**", absent);
  try {
    await clickWebhooksTab(page);
    await page.getByText("Les webhooks ne sont pas disponibles sur ce déploiement.").waitFor();
    await page.getByRole("link", { name: "Clés d'API" }).click();
    await page.getByRole("button", { name: "Ajouter", exact: true }).waitFor();
  } finally {
    await page.unroute("**/api/v1/webhooks**", absent);
  }
});
