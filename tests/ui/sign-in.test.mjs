// Browser tests of signing in (a pasted token, the platform's hand-over in the fragment, the
// provider's SSO tokens, a token without the right), of what the page keeps, of the two
// languages, and of the security and cache headers of the screen's files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN, app, newPage, providerToken, removeEveryKey, shot, signedIn, token, useApp } from "./harness.mjs";

useApp();

/** The window of the refusal's screenshot. */
const REFUSAL_VIEWPORT = { width: 1280, height: 700 };

/** Signs in on a new page by pasting the administrator's token on the sign-in form. */
async function pastingToken() {
  const page = await newPage();
  await page.goto(`${app.base}/`);
  await page.getByLabel("Jeton d'identité").fill(ADMIN);
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  return page;
}

test("an administrator signs in with a pasted token and sees the empty list explained", async () => {
  // The empty list of the real server, made by deleting this file's keys through the API
  // (its tests run one at a time, each making its own), costs a few calls; an app of its
  // own would cost a `spin up`.
  await removeEveryKey();
  const page = await pastingToken();
  await page.getByRole("heading", { name: "Aucune clé d'API tierce" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "Documentation développeur" }).isVisible());
  assert.ok(await page.getByRole("link", { name: "Documentation SSO" }).isVisible());
  await shot(page, "01-empty-list");
});

test("the screen switches to English", async () => {
  const page = await signedIn();
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("heading", { name: "External APIs" }).waitFor();
  await page.getByLabel("Language").selectOption("fr");
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
});

test("nothing sensitive is kept in web storage", async () => {
  // The page is given what it must not keep: a pasted token and a new key's secret; it keeps
  // a language chosen.
  const page = await pastingToken();
  await page.getByRole("button", { name: "Ajouter" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByLabel("Libellé").fill("Welyb stockage");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  const secretDialog = page.getByRole("dialog", { name: "Votre nouvelle clé d'API" });
  assert.match(await secretDialog.getByLabel("Clé d'API").inputValue(), /^ingk_/);
  await secretDialog.getByRole("button", { name: "J'ai copié la clé" }).click();
  await page.getByRole("heading", { name: "Welyb stockage" }).waitFor();
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("button", { name: "Regenerate" }).waitFor();

  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  assert.ok(!stored.includes(ADMIN) && !stored.includes("ingk_"), stored);
  assert.match(stored, /"ingeneo\.api-keys\.lang":"en"/, "the language chosen is what is kept");
});

test("a token handed over in the fragment is read once and wiped from the address", async () => {
  const page = await newPage();
  await page.goto(`${app.base}/#token=${ADMIN}`);
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  assert.ok(!page.url().includes(ADMIN));
});

test("an administrator signs in through the platform's SSO with a token the provider signed", async () => {
  const page = await newPage();
  const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
  const sso = providerToken();
  await page.goto(`${app.base}/#token=${sso}`);
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  assert.ok(!page.url().includes(sso));
  await page.getByRole("button", { name: "Ajouter" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByLabel("Libellé").fill("Créée via SSO");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  const answer = await created;
  assert.equal(answer.status(), 201);
  assert.deepEqual((await answer.json()).created_by, { id: "f:9e1d:noor", name: "Noor Haddad" });
  // No other test of this file presents a provider's token: every fetch is this test's.
  assert.equal(app.jwksHits, 1, "the JWKS is fetched once and then cached");
  const refused = await newPage();
  await refused.goto(`${app.base}/#token=${providerToken(["offline_access"])}`);
  await refused.getByRole("heading", { name: "Accès refusé" }).waitFor();
});

test("a token without the platform configuration right sees a clear refusal", async () => {
  const page = await newPage(REFUSAL_VIEWPORT);
  await page.goto(`${app.base}/#token=${token(["payroll_admin"])}`);
  await page.getByRole("heading", { name: "Accès refusé" }).waitFor();
  await shot(page, "07-not-allowed", { fullPage: false });
});

test("pages and assets carry a strict CSP, nosniff and cache headers", async () => {
  const index = await fetch(`${app.base}/`);
  const csp = index.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(index.headers.get("x-content-type-options"), "nosniff");
  assert.equal(index.headers.get("cache-control"), "no-cache");
  const script = await fetch(`${app.base}/assets/app.js`);
  assert.match(script.headers.get("cache-control"), /max-age=/);
  const again = await fetch(`${app.base}/assets/app.js`, { headers: { "if-none-match": script.headers.get("etag") } });
  assert.equal(again.status, 304);
  const doc = await fetch(`${app.base}/api/v1/openapi.json`);
  assert.equal((await doc.json()).openapi, "3.1.0");

  // Every module of the screen, app.js and what it imports, is served as a script.
  const modules = new Set(["app.js"]);
  for (const name of modules) {
    const served = await fetch(`${app.base}/assets/${name}`);
    assert.equal(served.status, 200, name);
    assert.equal(served.headers.get("content-type"), "text/javascript; charset=utf-8", name);
    assert.equal(served.headers.get("x-content-type-options"), "nosniff", name);
    assert.match(served.headers.get("cache-control"), /max-age=/, name);
    for (const [, imported] of (await served.text()).matchAll(/\bfrom "\.\/([\w-]+\.js)"/g)) modules.add(imported);
  }
  for (const name of ["core.js", "i18n.js", "key-list.js", "key-page.js", "webhooks.js"]) assert.ok(modules.has(name), name);
});
