// Browser tests of a key's usage limits: the rate limit, quota and IP allowlist edited on its
// page and read back, a value the server refuses, and a quota given at creation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN, api, app, createKey, shot, signedIn, useApp } from "./harness.mjs";

useApp();

/** Opens a key's page in `page` as after a reload: a fresh document, the token handed over
 *  again. */
async function reopen(page, id) {
  await page.goto("about:blank");
  await page.goto(`${app.base}/#token=${ADMIN}`);
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  await page.goto(`${app.base}/#/keys/${id}`);
  await page.locator("#limits").waitFor();
}

/** Clicks "Enregistrer les limites" in `page` and answers the PATCH it sent (its body and
 *  status). */
async function saveLimits(page) {
  const answered = page.waitForResponse((r) => /\/api\/v1\/keys\/key_\w+$/.test(r.url()) && r.request().method() === "PATCH");
  await page.getByRole("button", { name: "Enregistrer les limites" }).click();
  const response = await answered;
  return { sent: response.request().postDataJSON(), status: response.status() };
}

test("a key's rate limit, quota and IP allowlist are edited on its page and read back after a reload", async () => {
  const { id } = await createKey({ label: "MyCompanyFile limites" });
  const page = await signedIn(`#/keys/${id}`);
  await page.locator("#usage").getByText("Aucune vérification sur la période").waitFor();
  const facts = page.locator(".facts");
  assert.equal(await facts.getByText("Toutes les adresses").count(), 1, "no allowlist: any address");

  await page.getByLabel("Limiter le débit").check();
  await page.getByLabel("Requêtes par fenêtre").fill("100");
  await page.getByLabel("Durée de la fenêtre (secondes)").fill("90000");
  await page.getByRole("button", { name: "Enregistrer les limites" }).click();
  await page.getByText("La durée de la fenêtre doit être un nombre entier de secondes entre 1 et 86 400.").waitFor();
  await page.getByRole("group", { name: "Durées courantes" }).getByRole("button", { name: "1 heure" }).click();
  assert.equal(await page.getByLabel("Durée de la fenêtre (secondes)").inputValue(), "3600");
  await page.getByLabel("Appliquer un quota").check();
  await page.getByLabel("Requêtes par période").fill("10000");
  await page.getByLabel("Période du quota").selectOption("month");
  await page.getByLabel("Une adresse IP ou un bloc CIDR par ligne").fill("10.0.0.0/8\n\n 2001:db8::1 \n203.0.113.7\n");
  const { sent, status } = await saveLimits(page);
  assert.equal(status, 200);
  assert.deepEqual(sent, { rate_limit: { limit: 100, window_seconds: 3600 }, quota: { limit: 10000, period: "month" },
    ip_allowlist: ["10.0.0.0/8", "2001:db8::1", "203.0.113.7"] });
  await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
  await facts.getByText("100 requêtes par heure").waitFor();
  await facts.getByText(/^10\s000 requêtes par mois \(UTC\)$/).waitFor();

  const { body: stored } = await api("GET", `/keys/${id}`);
  assert.deepEqual(stored.rate_limit, { limit: 100, window_seconds: 3600 });
  assert.deepEqual(stored.quota, { limit: 10000, period: "month" });
  assert.deepEqual([...stored.ip_allowlist].sort(), ["10.0.0.0/8", "2001:db8::1/128", "203.0.113.7/32"], "canonical blocks");

  await reopen(page, id);
  assert.ok(await page.getByLabel("Limiter le débit").isChecked());
  assert.equal(await page.getByLabel("Requêtes par fenêtre").inputValue(), "100");
  assert.equal(await page.getByLabel("Durée de la fenêtre (secondes)").inputValue(), "3600");
  assert.ok(await page.getByLabel("Appliquer un quota").isChecked());
  assert.equal(await page.getByLabel("Requêtes par période").inputValue(), "10000");
  assert.equal(await page.getByLabel("Période du quota").inputValue(), "month");
  assert.deepEqual((await page.getByLabel("Une adresse IP ou un bloc CIDR par ligne").inputValue()).split("\n").sort(), ["10.0.0.0/8", "2001:db8::1/128", "203.0.113.7/32"]);
  const history = page.locator("#history");
  await history.getByText("Limites modifiées").waitFor();
  await history.getByText(/Limite de débit : Aucune → 100 requêtes par heure/).waitFor();
  await shot(page, "09-key-limits");

  // Removing the rate limit and the allowlist sends those two only; the quota stays.
  await page.getByLabel("Limiter le débit").uncheck();
  await page.getByLabel("Une adresse IP ou un bloc CIDR par ligne").fill("");
  const removal = await saveLimits(page);
  assert.equal(removal.status, 200);
  assert.deepEqual(removal.sent, { rate_limit: null, ip_allowlist: [] });
  await facts.getByText("Toutes les adresses").waitFor();
  const { body: after } = await api("GET", `/keys/${id}`);
  assert.deepEqual([after.rate_limit, after.quota, after.ip_allowlist], [null, { limit: 10000, period: "month" }, []]);
});

test("an invalid address shows the server's message next to the allowlist and nothing is saved", async () => {
  const { id } = await createKey({ label: "MyCompanyFile adresses", quota: { limit: 10000, period: "month" } });
  const page = await signedIn(`#/keys/${id}`);
  await page.locator("#limits").waitFor();
  await page.getByLabel("Requêtes par période").fill("5");
  const allowlist = page.getByLabel("Une adresse IP ou un bloc CIDR par ligne");
  await allowlist.fill("10.0.0.0/8\n10.0.0.300");
  const { sent, status } = await saveLimits(page);
  assert.equal(status, 422);
  assert.deepEqual(sent, { quota: { limit: 5, period: "month" }, ip_allowlist: ["10.0.0.0/8", "10.0.0.300"] });
  const message = page.locator("#ip-allowlist-error");
  await message.getByText(/ip_allowlist\[1\].*10\.0\.0\.300/).waitFor();
  assert.match(await message.innerText(), /^Valeur refusée : /);
  assert.equal(await allowlist.getAttribute("aria-invalid"), "true");
  assert.match(await allowlist.getAttribute("aria-describedby"), /\bip-allowlist-error\b/, "the message describes the field");
  assert.ok(await allowlist.evaluate((el) => el === document.activeElement), "the field has the focus");
  assert.equal(await page.locator("#quota-limit-error").innerText(), "", "the other fields are not blamed");
  const { body: stored } = await api("GET", `/keys/${id}`);
  assert.deepEqual([stored.quota, stored.ip_allowlist], [{ limit: 10000, period: "month" }, []]);
});

test("a new key can be created with a quota", async () => {
  const page = await signedIn();
  await page.getByRole("button", { name: "Ajouter" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByLabel("Libellé").fill("Welyb recette");
  await dialog.getByText("Limites d'utilisation (facultatif)").click();
  await dialog.getByLabel("Appliquer un quota").check();
  await dialog.getByLabel("Requêtes par période").fill("0");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  await dialog.getByText("Saisissez un nombre entier supérieur ou égal à 1.").waitFor();
  await dialog.getByLabel("Requêtes par période").fill("500");
  const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  const answer = await created;
  assert.equal(answer.status(), 201);
  assert.deepEqual(answer.request().postDataJSON(), { label: "Welyb recette", quota: { limit: 500, period: "day" } });
  const { id } = await answer.json();
  await page.getByRole("button", { name: "J'ai copié la clé" }).click();
  await page.locator(".facts").getByText("500 requêtes par jour (UTC)").waitFor();
  const { body: stored } = await api("GET", `/keys/${id}`);
  assert.deepEqual([stored.rate_limit, stored.quota, stored.ip_allowlist], [null, { limit: 500, period: "day" }, []]);
});
