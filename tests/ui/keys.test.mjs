// Browser tests of the keys' pages: a new key shown once, its methods and companies,
// regenerating, deactivating and reactivating, the list, the keyboard, deleting, the delay an
// edge record cache adds, and the expiry range a lifetime limit allows. Each test makes the
// keys it needs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerJson, api, app, createKey, DESKTOP, mocking, removeEveryKey, shot, signedIn, useApp, verify } from "./harness.mjs";

useApp();

/** The window of a phone, for the list's narrow layout. */
const PHONE = { width: 390, height: 844 };

/** Opens, signed in, the page of a key made through the API with `fields`; answers the page
 *  and the key (with its secret). */
async function keyPage(fields) {
  const key = await createKey(fields);
  const page = await signedIn(`#/keys/${key.id}`);
  await page.getByRole("heading", { name: fields.label, level: 1 }).waitFor();
  return { page, key };
}

/** Runs a UI action of `page` that saves permissions and waits for the API's answer and the
 *  feedback. */
async function saving(page, action) {
  const answered = page.waitForResponse((r) => r.url().includes("/permissions") && r.request().method() === "PATCH");
  await action();
  assert.equal((await answered).status(), 200);
  await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
}

test("a new key is shown once, copied, and verifies through the API", async () => {
  const page = await signedIn();
  await page.getByRole("button", { name: "Ajouter" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  await dialog.getByText("Saisissez un libellé.").waitFor();
  await dialog.getByLabel("Libellé").fill("Welyb production");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();

  const secretDialog = page.getByRole("dialog", { name: "Votre nouvelle clé d'API" });
  const secret = await secretDialog.getByLabel("Clé d'API").inputValue();
  assert.match(secret, /^ingk_[0-9A-Za-z]{49}$/);
  assert.ok(await secretDialog.getByText("elle ne sera plus jamais affichée").isVisible());
  await secretDialog.getByRole("button", { name: "Copier" }).click();
  await page.getByRole("status").filter({ hasText: "Clé copiée" }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot(page, "02-new-key-shown-once");
  await secretDialog.getByRole("button", { name: "J'ai copié la clé" }).click();

  await page.getByRole("heading", { name: "Welyb production" }).waitFor();
  assert.equal(await verify(secret), "VALID");
  assert.equal(await verify(secret, "employees.read"), "METHOD_NOT_ALLOWED", "deny by default");
});

test("toggling a method on and off changes what verification allows", async () => {
  const { page, key: { key: secret } } = await keyPage({ label: "Welyb production" });
  await saving(page, () => page.getByRole("switch", { name: /Consulter les salariés/ }).check());
  assert.equal(await verify(secret, "employees.read"), "VALID");
  await saving(page, () => page.getByRole("switch", { name: /Consulter les absences/ }).check());
  await shot(page, "03-key-permissions");
  await saving(page, () => page.getByRole("switch", { name: /Consulter les salariés/ }).uncheck());
  assert.equal(await verify(secret, "employees.read"), "METHOD_NOT_ALLOWED");
  assert.equal(await verify(secret, "absences.read"), "VALID");
});

test("a whole group can be granted with one toggle", async () => {
  const { page, key: { key: secret } } = await keyPage({ label: "Welyb paie" });
  await saving(page, () => page.getByRole("switch", { name: /payroll\.\*/ }).check());
  assert.equal(await verify(secret, "payroll.payslips.read"), "VALID");
  assert.ok(await page.getByRole("switch", { name: /Consulter les bulletins de paie/ }).isDisabled());
});

test("restricting the key to one company refuses the others", async () => {
  const { page, key: { key: secret } } = await keyPage({ label: "Welyb absences", methods: ["absences.read"] });
  await page.getByLabel("Seulement les entreprises choisies").check();
  await page.getByLabel(/Acme SA/).check();
  await saving(page, () => page.getByRole("button", { name: "Enregistrer les restrictions" }).click());
  assert.equal(await verify(secret, "absences.read", "ACME"), "VALID");
  assert.equal(await verify(secret, "absences.read", "GLOBEX"), "COMPANY_NOT_ALLOWED");
});

test("regenerating shows a new key and the old one stops working", async () => {
  const { page, key: { key: secret } } = await keyPage({ label: "Welyb production", methods: ["absences.read"], companies: ["ACME"] });
  await page.getByRole("button", { name: "Régénérer" }).click();
  const dialog = page.getByRole("dialog", { name: "Régénérer la clé" });
  await dialog.getByRole("button", { name: "Régénérer" }).click();
  const fresh = await page.getByRole("dialog", { name: "Votre nouvelle clé d'API" }).getByLabel("Clé d'API").inputValue();
  assert.notEqual(fresh, secret);
  await page.getByRole("button", { name: "J'ai copié la clé" }).click();
  assert.equal(await verify(secret), "NOT_FOUND");
  assert.equal(await verify(fresh, "absences.read", "ACME"), "VALID", "permissions carry over");
});

test("deactivating refuses the key and reactivating restores it", async () => {
  const { page, key: { key: secret } } = await keyPage({ label: "Welyb production", methods: ["absences.read"], companies: ["ACME"] });
  await page.getByRole("button", { name: "Désactiver" }).click();
  await page.getByRole("status").filter({ hasText: "Clé désactivée" }).waitFor();
  assert.equal(await verify(secret), "DISABLED");
  await page.getByRole("button", { name: "Réactiver" }).click();
  await page.getByRole("status").filter({ hasText: "Clé réactivée" }).waitFor();
  assert.equal(await verify(secret, "absences.read", "ACME"), "VALID");
  await page.locator("#history").getByText("Désactivation").waitFor();
  await shot(page, "04-key-detail-and-history");
});

test("the list shows the key with its status, and works at phone width", async () => {
  const { key: secret } = await createKey({ label: "MyCompanyFile production" });
  const page = await signedIn();
  const row = page.getByRole("row", { name: /MyCompanyFile production/ });
  await row.waitFor();
  assert.ok(await row.getByText("Active").isVisible());
  assert.ok(await row.getByText(secret.slice(-4)).isVisible(), "the hint shows the last four characters");
  await shot(page, "05-key-list");
  await page.setViewportSize(PHONE);
  await shot(page, "06-key-list-phone");
  await page.setViewportSize(DESKTOP);
});

test("the keyboard alone reaches the add dialog and escapes it", async () => {
  const page = await signedIn();
  await page.getByLabel("Rechercher par libellé").focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.getByRole("dialog", { name: "Ajouter une clé d'API" }).waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("dialog").waitFor({ state: "detached" });
});

test("deleting needs the label typed and removes the key", async () => {
  // Deleting the only key leads back to the empty list: the other keys of this file's app
  // are removed first (through the API; its tests run one at a time).
  await removeEveryKey();
  const { key: secret, id } = await createKey({ label: "Welyb production" });
  const page = await signedIn();
  await page.getByRole("link", { name: "Welyb production" }).click();
  await page.getByRole("button", { name: "Supprimer" }).click();
  const dialog = page.getByRole("dialog", { name: "Supprimer la clé" });
  const confirm = dialog.getByRole("button", { name: "Supprimer" });
  assert.ok(await confirm.isDisabled());
  await dialog.getByRole("textbox").fill("Welyb production");
  await confirm.click();
  await page.getByRole("heading", { name: "Aucune clé d'API tierce" }).waitFor();
  assert.equal(await verify(secret), "NOT_FOUND");
  assert.equal((await api("GET", `/keys/${id}`)).status, 404);
});

test("with an edge record cache, a key's page says how long its changes take to apply everywhere", async () => {
  const created = await createKey({ label: "Clé vérifiée en cache" });
  const page = await signedIn();
  const open = async () => {
    await page.evaluate(() => { location.hash = "#/"; });
    await page.evaluate((id) => { location.hash = `#/keys/${id}`; }, created.id);
    await page.getByRole("heading", { name: "Clé vérifiée en cache" }).waitFor();
  };
  // This deployment verifies strictly (verify_cache_ms = 0): no delay to announce.
  await open();
  assert.equal(await page.locator("#propagation").count(), 0);
  // A deployment with a 1.5 s cache reports it on its health route.
  const health = await (await fetch(`${app.base}/api/v1/health`)).json();
  assert.equal(health.verify_cache_ms, 0);
  await page.route("**/api/v1/health", (route) => route.fulfill({
    status: 200, contentType: "application/json", body: JSON.stringify({ ...health, verify_cache_ms: 1500 }) }));
  try {
    await open();
    await page.getByText(/s'applique partout au plus 1\s500 ms/).waitFor();
    await page.getByLabel("Langue").selectOption("en");
    await page.getByText("applies everywhere at most 1,500 ms after it is saved").waitFor();
    await page.getByLabel("Language").selectOption("fr");
  } finally {
    await page.unroute("**/api/v1/health");
  }
});

// ---------- key expiry range (max_key_lifetime_days on a mocked health route) ----------

/** The local day `n` days from today in the browser of `page`, as a date input holds it. */
function dayFromToday(page, n) {
  return page.evaluate((days) => {
    const d = new Date();
    d.setDate(d.getDate() + days);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }, n);
}

/** The start (local time) of a yyyy-mm-dd day in the browser of `page`, as RFC 3339. */
function startOfDay(page, day) {
  return page.evaluate((value) => {
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d).toISOString().replace(/\.\d{3}Z$/, "Z");
  }, day);
}

test("with a 90-day lifetime limit, creating a key requires an expiry within 90 days, and the server's refusal shows", async () => {
  const page = await signedIn();
  const health = await (await fetch(`${app.base}/api/v1/health`)).json();
  const detail = "expires_at is more than max_key_lifetime_days (90) from now";
  let refuse = true;
  await mocking(page, [
    [(url) => url.pathname === "/api/v1/health", (route) => answerJson(route, { ...health, max_key_lifetime_days: 90 })],
    [(url) => url.pathname === "/api/v1/keys", (route) => (route.request().method() === "POST" && refuse
      ? answerJson(route, { type: "about:blank", title: "Unprocessable Entity", status: 422, code: "expiry_too_far", detail }, 422)
      : route.fallback())],
  ], async () => {
    await page.getByRole("button", { name: "Ajouter", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
    await dialog.getByText("Expiration obligatoire, au plus dans 90 jours.").waitFor();
    const expiry = dialog.getByLabel("Date d'expiration");
    const last = await dayFromToday(page, 90);
    assert.equal(await expiry.getAttribute("max"), last);
    assert.equal(await expiry.getAttribute("min"), await dayFromToday(page, 1));
    assert.equal(await expiry.getAttribute("required"), "");

    await dialog.getByLabel("Libellé").fill("Welyb expiration");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText(/^Choisissez une date d'expiration, au plus tard le /).waitFor();
    await expiry.fill(await dayFromToday(page, 91));
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText(/^Choisissez une date au plus tard le /).waitFor();

    await expiry.fill(last);
    const refused = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    const answer = await refused;
    assert.equal(answer.status(), 422);
    assert.deepEqual(answer.request().postDataJSON(), { label: "Welyb expiration", expires_at: await startOfDay(page, last) });
    await dialog.locator("#expires-error").getByText(`Valeur refusée : ${detail}`).waitFor();
    await shot(page, "16-key-expiry-range");
    assert.equal(await expiry.getAttribute("aria-invalid"), "true");

    // The real server (no limit of its own) takes the same request.
    refuse = false;
    const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    assert.equal((await created).status(), 201);
    const { id, expires_at: expiresAt } = await (await created).json();
    assert.equal(expiresAt, await startOfDay(page, last));
    await page.getByRole("button", { name: "J'ai copié la clé" }).click();
    await page.getByRole("heading", { name: "Welyb expiration", level: 1 }).waitFor();

    // The expiry edit offers the same range.
    await page.getByRole("button", { name: "Modifier l'expiration" }).click();
    const edit = page.getByRole("dialog", { name: "Modifier l'expiration" });
    await edit.getByText("Expiration obligatoire, au plus dans 90 jours.").waitFor();
    assert.equal(await edit.getByLabel("Date d'expiration").inputValue(), last);
    assert.equal(await edit.getByLabel("Date d'expiration").getAttribute("max"), last);
    await edit.getByLabel("Date d'expiration").fill("");
    await edit.getByRole("button", { name: "Enregistrer" }).click();
    await edit.getByText(/^Choisissez une date d'expiration/).waitFor();
    const sooner = await dayFromToday(page, 30);
    await edit.getByLabel("Date d'expiration").fill(sooner);
    const patched = page.waitForResponse((r) => r.url().endsWith(`/api/v1/keys/${id}`) && r.request().method() === "PATCH");
    await edit.getByRole("button", { name: "Enregistrer" }).click();
    assert.equal((await patched).status(), 200);
    assert.deepEqual((await patched).request().postDataJSON(), { expires_at: await startOfDay(page, sooner) });
    await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
    assert.equal((await api("GET", `/keys/${id}`)).body.expires_at, await startOfDay(page, sooner));

    await page.getByLabel("Langue").selectOption("en");
    await page.getByRole("button", { name: "Change the expiry" }).click();
    await page.getByRole("dialog", { name: "Change the expiry" }).getByText("Expiry required, at most 90 days from now.").waitFor();
    await page.getByRole("dialog", { name: "Change the expiry" }).getByRole("button", { name: "Cancel" }).click();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("button", { name: "Modifier l'expiration" }).waitFor();
  });
});

test("without a lifetime limit, the expiry is optional and unbounded", async () => {
  const page = await signedIn();
  await page.getByRole("button", { name: "Ajouter", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByText("Facultative : laissez vide pour une clé sans expiration.").waitFor();
  const expiry = dialog.getByLabel("Date d'expiration");
  assert.equal(await expiry.getAttribute("max"), null);
  assert.equal(await expiry.getAttribute("required"), null);
  await dialog.getByRole("button", { name: "Annuler" }).click();
  await dialog.waitFor({ state: "detached" });
});
