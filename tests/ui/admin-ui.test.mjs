// Browser tests of the "APIs externes" screen: headless Debian Chromium, driven by
// playwright-core, against the app served by the Spin CLI (`spin up`).
// Screenshots of the main screens go to target/screenshots/, or to $UI_SCREENSHOTS_DIR
// (the README's come from `UI_SCREENSHOTS_DIR=docs/screenshots scripts/ui-test.sh`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = path.resolve(ROOT, process.env.UI_SCREENSHOTS_DIR || "target/screenshots");
const SECRET = "ui-test-identity-secret";
// The platform's OpenID Connect provider, played by a JWKS server of the tests (an ES256 key
// generated per run); the app takes tokens of both kinds.
const ISSUER = "https://sso.ingeneo.example/realms/ingeneo";
const AUDIENCE = "ingeneo-api-keys";
const PROVIDER_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" });
const PROVIDER_KID = `ui-${Date.now()}`;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

function b64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** An HS256 identity token, signed with the shared secret. */
function token(rights = ["platform_configuration"]) {
  const head = b64url({ alg: "HS256", typ: "JWT" });
  // The app reads the rights where the provider puts them (identity_rights_claim), for
  // tokens of both kinds.
  const body = b64url({ iss: ISSUER, aud: AUDIENCE, sub: "u-2002", name: "Dominique Leroy", exp: Math.floor(Date.now() / 1000) + 3600, realm_access: { roles: rights } });
  const sig = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** An ES256 token of the provider, Keycloak-shaped (the rights in `realm_access.roles`). */
function providerToken(roles = ["platform_configuration"]) {
  const head = b64url({ alg: "ES256", kid: PROVIDER_KID, typ: "JWT" });
  const now = Math.floor(Date.now() / 1000);
  const body = b64url({ iss: ISSUER, aud: [AUDIENCE, "account"], sub: "f:9e1d:noor", name: "Noor Haddad",
    preferred_username: "noor.haddad", realm_access: { roles }, iat: now, exp: now + 3600 });
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), { key: PROVIDER_KEY.privateKey, dsaEncoding: "ieee-p1363" });
  return `${head}.${body}.${sig.toString("base64url")}`;
}

let provider;
let jwksHits = 0;

/** Serves the provider's JWKS on a free loopback port; resolves to its origin. */
function startProvider() {
  const jwk = { ...PROVIDER_KEY.publicKey.export({ format: "jwk" }), kid: PROVIDER_KID, alg: "ES256", use: "sig" };
  provider = createHttpServer((request, response) => {
    if (request.method === "POST" && request.url === "/hook") {
      // The webhook receiver of the real-server webhooks test.
      const chunks = [];
      request.on("data", (chunk) => chunks.push(chunk));
      request.on("end", () => {
        hooks.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
        response.writeHead(204).end();
      });
      return;
    }
    if (request.url !== "/certs") { response.writeHead(404).end(); return; }
    jwksHits += 1;
    response.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=3600" });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  return new Promise((resolve) => provider.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${provider.address().port}`)));
}

// GitLab's secret-detection key, made for this run and given to the app inline, so that the
// tests can report a leaked key the way GitLab does.
const GITLAB = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const GITLAB_KEY_ID = "ui-test-gitlab-1";
const GITLAB_KEYS = JSON.stringify({ public_keys: [{ key_identifier: GITLAB_KEY_ID,
  key: GITLAB.publicKey.export({ type: "spki", format: "pem" }), is_current: true }] });

let server;
let stateDir;
let base;
/** The identity provider's origin, which is also the webhook receiver's (`POST /hook`). */
let providerOrigin;
/** The webhook messages the receiver got: `{ headers, body }`. */
const hooks = [];
/** The key sealing webhook secrets in this run (32 bytes, standard base64). */
const WEBHOOK_KEY = Buffer.alloc(32, 7).toString("base64");
let browser;
let page;
const ADMIN = token();

/** A free loopback port (released at once; `spin up` binds it next). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the app on `spin up` (the Spin CLI of $SPIN_BIN, else `spin` on PATH) with a fresh
 *  state directory, in its own process group, and waits until it answers. */
async function startServer() {
  const origin = await startProvider();
  providerOrigin = origin;
  const port = await freePort();
  stateDir = mkdtempSync(path.join(tmpdir(), "ui-spin-"));
  const logPath = path.join(stateDir, "spin-up.log");
  const log = openSync(logPath, "w");
  server = spawn(process.env.SPIN_BIN || "spin", ["up", "--from", path.join(ROOT, "spin.toml"),
    "--listen", `127.0.0.1:${port}`, "--state-dir", stateDir,
    "--variable", `identity_token_secret=${SECRET}`,
    "--variable", `identity_jwks_url=${origin}/certs`, "--variable", `identity_jwks_origin=${origin}`,
    "--variable", `identity_token_issuer=${ISSUER}`, "--variable", `identity_token_audience=${AUDIENCE}`,
    "--variable", "identity_rights_claim=realm_access.roles",
    "--variable", `gitlab_secret_scanning_keys=${GITLAB_KEYS}`,
    "--variable", `webhook_origin=${origin}`, "--variable", `webhook_encryption_key=${WEBHOOK_KEY}`],
  { stdio: ["ignore", log, log], detached: true });
  const exited = new Promise((_, reject) => server.on("exit", (code) =>
    reject(new Error(`spin up exited with ${code}:\n${readFileSync(logPath, "utf8")}`))));
  exited.catch(() => {}); // only the wait below cares; an exit at teardown is expected
  base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/.well-known/spin/health`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`spin up did not answer on ${base}`);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
}

/** Stops the process group started above (`spin up` and its `spin trigger http` child),
 *  waits for it to exit (SIGKILL after 5 s), then removes its state directory. */
async function stopServer() {
  if (server?.pid && server.exitCode === null && server.signalCode === null) {
    const gone = new Promise((resolve) => server.once("exit", resolve));
    const signal = (name) => {
      try {
        process.kill(-server.pid, name);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  }
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  await new Promise((resolve) => (provider ? provider.close(resolve) : resolve()));
}

async function api(method, route, body, bearer = ADMIN) {
  const headers = { authorization: `Bearer ${bearer}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${base}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

async function verify(key, method, company) {
  const { status, body } = await api("POST", "/verify", { key, method, company });
  assert.equal(status, 200);
  return body.code;
}

async function shot(name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Runs a UI action that saves permissions and waits for the API's answer and the feedback. */
async function saving(action) {
  const answered = page.waitForResponse((r) => r.url().includes("/permissions") && r.request().method() === "PATCH");
  await action();
  assert.equal((await answered).status(), 200);
  await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "fr-FR" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  page = await context.newPage();
  for (const [id, name] of [["ACME", "Acme SA"], ["GLOBEX", "Globex SARL"]]) {
    assert.equal((await api("PUT", `/companies/${id}`, { name })).status, 201);
  }
});

after(async () => {
  await browser?.close();
  await stopServer();
});

let secret;
let keyId;

test("an administrator signs in with a pasted token and sees the empty list explained", async () => {
  await page.goto(`${base}/`);
  await page.getByLabel("Jeton d'identité").fill(ADMIN);
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  await page.getByRole("heading", { name: "Aucune clé d'API tierce" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "Documentation développeur" }).isVisible());
  assert.ok(await page.getByRole("link", { name: "Documentation SSO" }).isVisible());
  await shot("01-empty-list");
});

test("a new key is shown once, copied, and verifies through the API", async () => {
  await page.getByRole("button", { name: "Ajouter" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  await dialog.getByText("Saisissez un libellé.").waitFor();
  await dialog.getByLabel("Libellé").fill("Welyb production");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();

  const secretDialog = page.getByRole("dialog", { name: "Votre nouvelle clé d'API" });
  secret = await secretDialog.getByLabel("Clé d'API").inputValue();
  assert.match(secret, /^ingk_[0-9A-Za-z]{49}$/);
  assert.ok(await secretDialog.getByText("elle ne sera plus jamais affichée").isVisible());
  await secretDialog.getByRole("button", { name: "Copier" }).click();
  await page.getByRole("status").filter({ hasText: "Clé copiée" }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot("02-new-key-shown-once");
  await secretDialog.getByRole("button", { name: "J'ai copié la clé" }).click();

  await page.getByRole("heading", { name: "Welyb production" }).waitFor();
  keyId = page.url().split("#/keys/")[1];
  assert.equal(await verify(secret), "VALID");
  assert.equal(await verify(secret, "employees.read"), "METHOD_NOT_ALLOWED", "deny by default");
});

test("toggling a method on and off changes what verification allows", async () => {
  await saving(() => page.getByRole("switch", { name: /Consulter les salariés/ }).check());
  assert.equal(await verify(secret, "employees.read"), "VALID");
  await saving(() => page.getByRole("switch", { name: /Consulter les absences/ }).check());
  await shot("03-key-permissions");
  await saving(() => page.getByRole("switch", { name: /Consulter les salariés/ }).uncheck());
  assert.equal(await verify(secret, "employees.read"), "METHOD_NOT_ALLOWED");
  assert.equal(await verify(secret, "absences.read"), "VALID");
});

test("a whole group can be granted with one toggle", async () => {
  await saving(() => page.getByRole("switch", { name: /payroll\.\*/ }).check());
  assert.equal(await verify(secret, "payroll.payslips.read"), "VALID");
  assert.ok(await page.getByRole("switch", { name: /Consulter les bulletins de paie/ }).isDisabled());
});

test("restricting the key to one company refuses the others", async () => {
  await page.getByLabel("Seulement les entreprises choisies").check();
  await page.getByLabel(/Acme SA/).check();
  await saving(() => page.getByRole("button", { name: "Enregistrer les restrictions" }).click());
  assert.equal(await verify(secret, "absences.read", "ACME"), "VALID");
  assert.equal(await verify(secret, "absences.read", "GLOBEX"), "COMPANY_NOT_ALLOWED");
});

test("regenerating shows a new key and the old one stops working", async () => {
  await page.getByRole("button", { name: "Régénérer" }).click();
  const dialog = page.getByRole("dialog", { name: "Régénérer la clé" });
  await dialog.getByRole("button", { name: "Régénérer" }).click();
  const fresh = await page.getByRole("dialog", { name: "Votre nouvelle clé d'API" }).getByLabel("Clé d'API").inputValue();
  assert.notEqual(fresh, secret);
  await page.getByRole("button", { name: "J'ai copié la clé" }).click();
  assert.equal(await verify(secret), "NOT_FOUND");
  assert.equal(await verify(fresh, "absences.read", "ACME"), "VALID", "permissions carry over");
  secret = fresh;
});

test("deactivating refuses the key and reactivating restores it", async () => {
  await page.getByRole("button", { name: "Désactiver" }).click();
  await page.getByRole("status").filter({ hasText: "Clé désactivée" }).waitFor();
  assert.equal(await verify(secret), "DISABLED");
  await page.getByRole("button", { name: "Réactiver" }).click();
  await page.getByRole("status").filter({ hasText: "Clé réactivée" }).waitFor();
  assert.equal(await verify(secret, "absences.read", "ACME"), "VALID");
  await page.locator("#history").getByText("Désactivation").waitFor();
  await shot("04-key-detail-and-history");
});

test("the list shows the key with its status, and works at phone width", async () => {
  await page.getByRole("link", { name: "Toutes les clés" }).click();
  const row = page.getByRole("row", { name: /Welyb production/ });
  await row.waitFor();
  assert.ok(await row.getByText("Active").isVisible());
  assert.ok(await row.getByText(secret.slice(-4)).isVisible(), "the hint shows the last four characters");
  await shot("05-key-list");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("06-key-list-phone");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("the keyboard alone reaches the add dialog and escapes it", async () => {
  await page.getByLabel("Rechercher par libellé").focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.getByRole("dialog", { name: "Ajouter une clé d'API" }).waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("dialog").waitFor({ state: "detached" });
});

test("deleting needs the label typed and removes the key", async () => {
  await page.getByRole("link", { name: "Welyb production" }).click();
  await page.getByRole("button", { name: "Supprimer" }).click();
  const dialog = page.getByRole("dialog", { name: "Supprimer la clé" });
  const confirm = dialog.getByRole("button", { name: "Supprimer" });
  assert.ok(await confirm.isDisabled());
  await dialog.getByRole("textbox").fill("Welyb production");
  await confirm.click();
  await page.getByRole("heading", { name: "Aucune clé d'API tierce" }).waitFor();
  assert.equal(await verify(secret), "NOT_FOUND");
  assert.equal((await api("GET", `/keys/${keyId}`)).status, 404);
});

test("the screen switches to English", async () => {
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("heading", { name: "External APIs" }).waitFor();
  await page.getByLabel("Language").selectOption("fr");
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
});

/** Reports `key` as found at `url`, signed as GitLab signs (DER ECDSA P-256 / SHA-256). */
async function reportLeak(key, url) {
  const body = JSON.stringify([{ type: "ingeneo_api_key", token: key, url }]);
  const signature = sign("sha256", Buffer.from(body), GITLAB.privateKey).toString("base64");
  const response = await fetch(`${base}/api/v1/secret-scanning/gitlab`, { method: "POST", body,
    headers: { "content-type": "application/json", "gitlab-public-key-identifier": GITLAB_KEY_ID, "gitlab-public-key-signature": signature } });
  assert.equal(response.status, 200);
  return response.json();
}

test("a key reported as leaked shows the banner with the place, and a flag in the list", async () => {
  const { body: created } = await api("POST", "/keys", { label: "Clé publiée par erreur" });
  const url = "https://gitlab.com/partner/app/-/blob/main/config.env";
  const [feedback] = await reportLeak(created.key, url);
  assert.equal(feedback.label, "true_positive");
  assert.equal(await verify(created.key), "DISABLED");

  await page.goto(`${base}/#/keys/${created.id}`);
  const banner = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Fuite signalée" }) });
  await banner.waitFor();
  assert.ok(await banner.getByText("GitLab a trouvé cette clé publiée").isVisible());
  assert.equal(await banner.getByRole("link", { name: "Voir où elle a été trouvée" }).getAttribute("href"), url);
  assert.equal(await page.locator(".facts dd").nth(1).innerText(), "Inactive Fuite signalée", "status and flag");
  assert.equal(await page.getByRole("button", { name: "Réactiver" }).count(), 0, "a published secret is not reactivated");
  assert.ok(await page.getByText("Clé publiée : régénérez-la pour pouvoir la réactiver.").isVisible());
  await page.locator("#history").getByText("Fuite signalée").waitFor();
  await page.locator("#history").getByText(`GitLab · ${url} · clé désactivée`).waitFor();
  await shot("08-leak-reported");
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("heading", { name: "Leak reported" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "See where it was found" }).isVisible());
  await page.getByLabel("Language").selectOption("fr");

  await page.getByRole("link", { name: "Toutes les clés" }).click();
  const row = page.getByRole("row", { name: /Clé publiée par erreur/ });
  await row.waitFor();
  assert.ok(await row.getByText("Fuite signalée").isVisible());
  await page.getByLabel("Statut").selectOption("leaked");
  await page.getByRole("row", { name: /Clé publiée par erreur/ }).waitFor();
  assert.equal(await page.locator("tbody tr").count(), 1, "only the leaked key is listed");
  await page.getByLabel("Statut").selectOption("");
});

test("a key reported through the public leak report shows who reported it, in both languages", async () => {
  const { body: created } = await api("POST", "/keys", { label: "Clé signalée publiquement" });
  const response = await fetch(`${base}/api/v1/leaks`, { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ keys: [created.key] }) });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { received: 1 });
  assert.equal(await verify(created.key), "DISABLED");

  await page.goto(`${base}/#/keys/${created.id}`);
  const banner = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Fuite signalée" }) });
  await banner.waitFor();
  assert.ok(await banner.getByText("Cette clé a été signalée comme publiée par un signalement public").isVisible());
  await page.locator("#history").getByText("Signalement public · clé désactivée").waitFor();
  await page.getByLabel("Langue").selectOption("en");
  await page.getByText("This key was reported as published through a public report").waitFor();
  await page.locator("#history").getByText("Public report · key deactivated").waitFor();
  await page.getByLabel("Language").selectOption("fr");
});

/** Retries `probe` until it answers something truthy, and answers that: usage counts reach
 *  the API about a second after the verifications (the edges batch them). */
async function eventually(what, probe, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A key's verifications over the default hourly range, summed by code. */
async function usageByCode(id) {
  const { status, body } = await api("GET", `/keys/${id}/usage?granularity=hour`);
  assert.equal(status, 200);
  const sums = {};
  for (const bucket of body.data) for (const [code, n] of Object.entries(bucket.counts)) sums[code] = (sums[code] ?? 0) + n;
  return sums;
}

/** Opens a key's page as after a reload: a fresh document, the token handed over again. */
async function reopen(id) {
  await page.goto("about:blank");
  await page.goto(`${base}/#token=${ADMIN}`);
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  await page.goto(`${base}/#/keys/${id}`);
  await page.locator("#limits").waitFor();
}

/** Clicks "Enregistrer les limites" and answers the PATCH it sent (its body and status). */
async function saveLimits() {
  const answered = page.waitForResponse((r) => /\/api\/v1\/keys\/key_\w+$/.test(r.url()) && r.request().method() === "PATCH");
  await page.getByRole("button", { name: "Enregistrer les limites" }).click();
  const response = await answered;
  return { sent: response.request().postDataJSON(), status: response.status() };
}

let limitedId;

test("a key's rate limit, quota and IP allowlist are edited on its page and read back after a reload", async () => {
  const { body: created } = await api("POST", "/keys", { label: "MyCompanyFile limites" });
  limitedId = created.id;
  await page.goto(`${base}/#/keys/${limitedId}`);
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
  const { sent, status } = await saveLimits();
  assert.equal(status, 200);
  assert.deepEqual(sent, { rate_limit: { limit: 100, window_seconds: 3600 }, quota: { limit: 10000, period: "month" },
    ip_allowlist: ["10.0.0.0/8", "2001:db8::1", "203.0.113.7"] });
  await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
  await facts.getByText("100 requêtes par heure").waitFor();
  await facts.getByText(/^10\s000 requêtes par mois \(UTC\)$/).waitFor();

  const { body: stored } = await api("GET", `/keys/${limitedId}`);
  assert.deepEqual(stored.rate_limit, { limit: 100, window_seconds: 3600 });
  assert.deepEqual(stored.quota, { limit: 10000, period: "month" });
  assert.deepEqual([...stored.ip_allowlist].sort(), ["10.0.0.0/8", "2001:db8::1/128", "203.0.113.7/32"], "canonical blocks");

  await reopen(limitedId);
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
  await shot("09-key-limits");

  // Removing the rate limit and the allowlist sends those two only; the quota stays.
  await page.getByLabel("Limiter le débit").uncheck();
  await page.getByLabel("Une adresse IP ou un bloc CIDR par ligne").fill("");
  const removal = await saveLimits();
  assert.equal(removal.status, 200);
  assert.deepEqual(removal.sent, { rate_limit: null, ip_allowlist: [] });
  await facts.getByText("Toutes les adresses").waitFor();
  const { body: after } = await api("GET", `/keys/${limitedId}`);
  assert.deepEqual([after.rate_limit, after.quota, after.ip_allowlist], [null, { limit: 10000, period: "month" }, []]);
});

test("an invalid address shows the server's message next to the allowlist and nothing is saved", async () => {
  await page.getByLabel("Requêtes par période").fill("5");
  const allowlist = page.getByLabel("Une adresse IP ou un bloc CIDR par ligne");
  await allowlist.fill("10.0.0.0/8\n10.0.0.300");
  const { sent, status } = await saveLimits();
  assert.equal(status, 422);
  assert.deepEqual(sent, { quota: { limit: 5, period: "month" }, ip_allowlist: ["10.0.0.0/8", "10.0.0.300"] });
  const message = page.locator("#ip-allowlist-error");
  await message.getByText(/ip_allowlist\[1\].*10\.0\.0\.300/).waitFor();
  assert.match(await message.innerText(), /^Valeur refusée : /);
  assert.equal(await allowlist.getAttribute("aria-invalid"), "true");
  assert.match(await allowlist.getAttribute("aria-describedby"), /\bip-allowlist-error\b/, "the message describes the field");
  assert.ok(await allowlist.evaluate((el) => el === document.activeElement), "the field has the focus");
  assert.equal(await page.locator("#quota-limit-error").innerText(), "", "the other fields are not blamed");
  const { body: stored } = await api("GET", `/keys/${limitedId}`);
  assert.deepEqual([stored.quota, stored.ip_allowlist], [{ limit: 10000, period: "month" }, []]);
});

test("a new key can be created with a quota", async () => {
  await page.goto(`${base}/#/`);
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

let usedId;

test("the usage chart stacks the key's verifications by code, in French and in English", async () => {
  const { body: created } = await api("POST", "/keys", { label: "Welyb statistiques", methods: ["employees.read"] });
  usedId = created.id;
  for (let i = 0; i < 3; i += 1) assert.equal(await verify(created.key, "employees.read"), "VALID");
  for (let i = 0; i < 2; i += 1) assert.equal(await verify(created.key, "payroll.payslips.read"), "METHOD_NOT_ALLOWED");
  await eventually("the five verifications in the usage", async () => {
    const sums = await usageByCode(usedId);
    return sums.VALID === 3 && sums.METHOD_NOT_ALLOWED === 2;
  });

  await page.goto(`${base}/#/keys/${usedId}`);
  const usage = page.locator("#usage");
  const chart = usage.getByRole("img", { name: /^Vérifications par heure sur les 48 dernières heures : 5 vérifications/ });
  await chart.waitFor();
  assert.equal(await chart.getAttribute("aria-label"),
    "Vérifications par heure sur les 48 dernières heures : 5 vérifications (Acceptées 3, Méthode non autorisée 2).");
  assert.equal(await usage.locator(".bar").count(), 48, "one bar per hour");
  assert.ok(await usage.locator("rect.seg.code-VALID").count() >= 1);
  assert.ok(await usage.locator("rect.seg.code-METHOD_NOT_ALLOWED").count() >= 1);
  const titles = await usage.locator(".bar title").allTextContents();
  assert.ok(titles.some((title) => /Acceptées \d/.test(title)), titles.join("\n"));
  assert.deepEqual(await usage.locator(".legend li").allInnerTexts(), ["Acceptées 3", "Méthode non autorisée 2"]);
  await usage.getByText("Total : 5 vérifications").waitFor();
  assert.ok(await usage.locator("text.tick").count() > 5, "the axes are labelled");
  await shot("10-key-usage");

  const daily = page.waitForResponse((r) => r.url().includes("/usage?granularity=day"));
  await usage.getByLabel("30 derniers jours (par jour)").check();
  assert.equal((await daily).status(), 200);
  await usage.getByRole("img", { name: /^Vérifications par jour sur les 30 derniers jours : 5 vérifications/ }).waitFor();
  assert.equal(await usage.locator(".bar").count(), 30, "one bar per day");

  await page.getByLabel("Langue").selectOption("en");
  const english = page.locator("#usage");
  await english.getByRole("img", { name: "Verifications per hour over the last 48 hours: 5 verifications (Accepted 3, Method not allowed 2)." }).waitFor();
  assert.deepEqual(await english.locator(".legend li").allInnerTexts(), ["Accepted 3", "Method not allowed 2"]);
  assert.ok(await english.getByLabel("Last 30 days (daily)").isVisible());
  await page.getByLabel("Language").selectOption("fr");
  await page.locator("#usage").getByRole("img", { name: /^Vérifications par heure/ }).waitFor();
});

test("the list shows each key's requests of the last 24 hours", async () => {
  await eventually("the list's 24 h count", async () => {
    const { body } = await api("GET", "/keys?limit=100");
    return body.data.find((key) => key.id === usedId)?.requests_24h === 5;
  });
  await page.goto(`${base}/#/`);
  const count = (label) => page.getByRole("row", { name: new RegExp(label) }).locator("td.num");
  // The list renders after the route changes: wait for it before counting its headers.
  const header = page.getByRole("columnheader", { name: "Requêtes (24 h)" });
  await header.waitFor();
  assert.equal(await header.count(), 1);
  assert.equal(await count("Welyb statistiques").innerText(), "5");
  assert.equal(await count("MyCompanyFile limites").innerText(), "0");
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("columnheader", { name: "Requests (24 h)" }).waitFor();
  await page.getByLabel("Language").selectOption("fr");
});

test("nothing sensitive is kept in web storage", async () => {
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  assert.ok(!stored.includes(ADMIN) && !stored.includes("ingk_"), stored);
});

test("a token handed over in the fragment is read once and wiped from the address", async () => {
  const other = await browser.newPage({ locale: "fr-FR" });
  await other.goto(`${base}/#token=${ADMIN}`);
  await other.getByRole("heading", { name: "APIs externes" }).waitFor();
  assert.ok(!other.url().includes(ADMIN));
  await other.close();
});

test("an administrator signs in through the platform's SSO with a token the provider signed", async () => {
  const other = await browser.newPage({ locale: "fr-FR" });
  const created = other.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
  const sso = providerToken();
  await other.goto(`${base}/#token=${sso}`);
  await other.getByRole("heading", { name: "APIs externes" }).waitFor();
  assert.ok(!other.url().includes(sso));
  await other.getByRole("button", { name: "Ajouter" }).click();
  const dialog = other.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByLabel("Libellé").fill("Créée via SSO");
  await dialog.getByRole("button", { name: "Enregistrer" }).click();
  const answer = await created;
  assert.equal(answer.status(), 201);
  assert.deepEqual((await answer.json()).created_by, { id: "f:9e1d:noor", name: "Noor Haddad" });
  assert.equal(jwksHits, 1, "the JWKS is fetched once and then cached");
  await other.close();
  const refused = await browser.newPage({ locale: "fr-FR" });
  await refused.goto(`${base}/#token=${providerToken(["offline_access"])}`);
  await refused.getByRole("heading", { name: "Accès refusé" }).waitFor();
  await refused.close();
});

test("a token without the platform configuration right sees a clear refusal", async () => {
  const other = await browser.newPage({ viewport: { width: 1280, height: 700 }, locale: "fr-FR" });
  await other.goto(`${base}/#token=${token(["payroll_admin"])}`);
  await other.getByRole("heading", { name: "Accès refusé" }).waitFor();
  await other.screenshot({ path: path.join(SHOTS, "07-not-allowed.png") });
  await other.close();
});

test("with an edge record cache, a key's page says how long its changes take to apply everywhere", async () => {
  const { body: created } = await api("POST", "/keys", { label: "Clé vérifiée en cache" });
  const open = async () => {
    await page.evaluate(() => { location.hash = "#/"; });
    await page.evaluate((id) => { location.hash = `#/keys/${id}`; }, created.id);
    await page.getByRole("heading", { name: "Clé vérifiée en cache" }).waitFor();
  };
  // This deployment verifies strictly (verify_cache_ms = 0): no delay to announce.
  await open();
  assert.equal(await page.locator("#propagation").count(), 0);
  // A deployment with a 1.5 s cache reports it on its health route.
  const health = await (await fetch(`${base}/api/v1/health`)).json();
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

test("pages and assets carry a strict CSP, nosniff and cache headers", async () => {
  const index = await fetch(`${base}/`);
  const csp = index.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(index.headers.get("x-content-type-options"), "nosniff");
  assert.equal(index.headers.get("cache-control"), "no-cache");
  const script = await fetch(`${base}/assets/app.js`);
  assert.match(script.headers.get("cache-control"), /max-age=/);
  const again = await fetch(`${base}/assets/app.js`, { headers: { "if-none-match": script.headers.get("etag") } });
  assert.equal(again.status, 304);
  const doc = await fetch(`${base}/api/v1/openapi.json`);
  assert.equal((await doc.json()).openapi, "3.1.0");
});

// ---------- access review (the review routes are mocked in the page) ----------

const LAST_HOUR = "2026-12-06T16:00:00Z";

/** An access review as the server answers it: a used wildcard grant and an unused one, one
 *  company, two kinds of refused attempts, and a narrower suggestion. */
function accessReview(days, changes = {}) {
  return { days, from: "2026-09-07T00:00:00Z", to: "2026-12-06T17:00:00Z", calls: 1234,
    methods: [
      { grant: "payroll.*", used: [
        { method: "payroll.payslips.read", calls: 1200, last_used_at: LAST_HOUR },
        { method: "payroll.variables.read", calls: 34, last_used_at: "2026-11-30T08:00:00Z" }] },
      { grant: "employees.read", used: [] }],
    companies: { scope: "all", used: [{ company: "ACME", calls: 1234, last_used_at: LAST_HOUR }] },
    refused: [
      { method: "documents.read", company: "ACME", code: "METHOD_NOT_ALLOWED", calls: 4, last_at: "2026-12-05T09:00:00Z" },
      { method: "(other)", company: null, code: "COMPANY_NOT_ALLOWED", calls: 2, last_at: "2026-12-04T10:00:00Z" }],
    suggestion: { methods: ["payroll.payslips.read", "payroll.variables.read"], companies: ["ACME"] },
    left_out: { methods: [], companies: [] },
    complete: true, ...changes };
}

function answerJson(route, body, status = 200) {
  return route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
}

/** Serves `routes` ([URL predicate, handler] pairs) in the page while `run` runs. */
async function mocking(routes, run) {
  for (const [url, handler] of routes) await page.route(url, handler);
  try {
    await run();
  } finally {
    for (const [url, handler] of routes) await page.unroute(url, handler);
  }
}

/** The access review route of key `id`, answering `answer(days)` ({status, body}) and
 *  recording the days asked in `asked`. */
function reviewRoute(id, answer, asked = []) {
  return [(url) => url.pathname === `/api/v1/keys/${id}/access-review`, (route) => {
    const days = Number(new URL(route.request().url()).searchParams.get("days"));
    asked.push(days);
    const { status = 200, body } = answer(days);
    return answerJson(route, body, status);
  }];
}

/** A new key with the grants of the reviews above, made through the API; answers its id. */
async function reviewedKey(label) {
  const { body: created } = await api("POST", "/keys", { label, methods: ["payroll.*", "employees.read"] });
  return created.id;
}

/** Opens key `id`'s page (the routes of its review mocked beforehand). */
async function openKey(id) {
  await page.evaluate((to) => { location.hash = to; }, `#/keys/${id}`);
}

/** The texts of a table row's cells, spaces made plain (French numbers group with a narrow
 *  no-break space). */
async function cellsOf(row) {
  return (await row.locator("th, td").allInnerTexts()).map((text) => text.replace(/\s+/g, " ").trim());
}

test("the access review shows each grant's use, the unused one marked, the companies and the refused attempts, in French and in English", async () => {
  const id = await reviewedKey("Welyb revue des accès");
  const asked = [];
  await mocking([reviewRoute(id, (days) => ({ body: accessReview(days) }), asked)], async () => {
    await openKey(id);
    const review = page.getByRole("region", { name: "Revue des accès" });
    const grants = review.getByRole("table", { name: "Autorisations" });
    await grants.waitFor();
    assert.deepEqual(asked, [90], "the default period is asked with the page");
    await review.getByText(/^1\s234 appels acceptés sur les 90 derniers jours/).waitFor();

    assert.deepEqual(await cellsOf(grants.getByRole("row", { name: /payroll\.\*/ })), ["payroll.*", "1 234", "6 déc. 2026, 16:00"]);
    const payslips = await cellsOf(grants.getByRole("row", { name: /payroll\.payslips\.read/ }));
    assert.deepEqual(payslips.slice(1), ["1 200", "6 déc. 2026, 16:00"]);
    assert.match(payslips[0], /payroll\.payslips\.read$/);
    assert.deepEqual(await cellsOf(grants.getByRole("row", { name: /employees\.read/ })), ["employees.read", "0", "Inutilisée"]);
    assert.ok(await grants.getByText("Inutilisée").evaluate((el) => el.classList.contains("badge")), "the unused grant is flagged");
    const lastUse = grants.locator("time").first();
    assert.equal(await lastUse.getAttribute("title"), "À l'heure près");
    assert.equal(await lastUse.getAttribute("datetime"), LAST_HOUR);
    await review.getByText(/à l'heure près/).waitFor();

    await review.getByText("La clé atteint toutes les entreprises.").waitFor();
    assert.deepEqual(await cellsOf(review.getByRole("table", { name: "Entreprises" }).getByRole("row", { name: /ACME/ })), ["ACME", "1 234", "6 déc. 2026, 16:00"]);

    await review.getByText("Ce que le partenaire a tenté sans pouvoir le faire.").waitFor();
    const refused = review.getByRole("table", { name: "Tentatives refusées" });
    assert.deepEqual(await refused.getByRole("columnheader").allTextContents(), ["Méthode", "Entreprise", "Motif", "Appels", "Dernière tentative"]);
    const documents = await cellsOf(refused.getByRole("row", { name: /documents\.read/ }));
    assert.match(documents[0], /documents\.read$/, "the method, after its catalog label");
    assert.deepEqual(documents.slice(1), ["ACME", "Méthode non autorisée", "4", "5 déc. 2026, 09:00"]);
    assert.deepEqual(await cellsOf(refused.getByRole("row", { name: /Autres/ })),
      ["Autres (au-delà de la limite de comptage)", "Aucune entreprise nommée", "Entreprise non autorisée", "2", "4 déc. 2026, 10:00"]);
    assert.deepEqual(await review.locator(".suggestion li").allInnerTexts(),
      ["Méthodes : payroll.payslips.read, payroll.variables.read", "Entreprises : ACME"]);
    assert.ok(await review.getByRole("button", { name: "Appliquer la suggestion" }).isVisible());
    await shot("11-access-review");

    await review.getByLabel("30 jours").check();
    await review.getByText(/^1\s234 appels acceptés sur les 30 derniers jours/).waitFor();
    assert.deepEqual(asked, [90, 30]);

    await page.getByLabel("Langue").selectOption("en");
    const english = page.getByRole("region", { name: "Access review" });
    const englishGrants = english.getByRole("table", { name: "Authorizations" });
    await englishGrants.waitFor();
    await english.getByText(/^1,234 accepted calls over the last 90 days/).waitFor();
    assert.deepEqual(await cellsOf(englishGrants.getByRole("row", { name: /employees\.read/ })), ["employees.read", "0", "Unused"]);
    assert.deepEqual(await cellsOf(englishGrants.getByRole("row", { name: /payroll\.\*/ })), ["payroll.*", "1,234", "6 Dec 2026, 16:00"]);
    assert.deepEqual((await cellsOf(english.getByRole("table", { name: "Refused attempts" }).getByRole("row", { name: /documents\.read/ }))).slice(1),
      ["ACME", "Method not allowed", "4", "5 Dec 2026, 09:00"]);
    await english.getByText("What the partner tried and could not do.").waitFor();
    assert.equal(await english.locator("time").first().getAttribute("title"), "To the hour");
    assert.ok(await english.getByRole("button", { name: "Apply the suggestion" }).isVisible());
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("region", { name: "Revue des accès" }).getByRole("table", { name: "Autorisations" }).waitFor();
  });
});

test("applying the suggestion shows the dry run first, then replaces the permissions with the reason “access review”", async () => {
  const id = await reviewedKey("Welyb suggestion appliquée");
  const asked = [];
  const simulated = [];
  const replaced = [];
  const suggestion = accessReview(90).suggestion;
  await mocking([
    reviewRoute(id, (days) => ({ body: accessReview(days) }), asked),
    [(url) => url.pathname === `/api/v1/keys/${id}/access-review/simulate`, (route) => {
      simulated.push(route.request().postDataJSON());
      return answerJson(route, { calls: 1234, would_be_refused: 0, refused: [] });
    }],
    [(url) => url.pathname === `/api/v1/keys/${id}/permissions`, (route) => {
      if (route.request().method() !== "PUT") return route.fallback();
      replaced.push(route.request().postDataJSON());
      return answerJson(route, suggestion);
    }],
  ], async () => {
    await openKey(id);
    await page.getByRole("region", { name: "Revue des accès" }).getByRole("button", { name: "Appliquer la suggestion" }).click();
    const dialog = page.getByRole("dialog", { name: "Appliquer la suggestion" });
    await dialog.getByText(/^0 des 1\s234 appels des 90 derniers jours auraient été refusés\.$/).waitFor();
    assert.deepEqual(simulated, [{ ...suggestion, days: 90 }]);
    assert.deepEqual(replaced, [], "nothing is changed before the confirmation");

    const reloaded = page.waitForResponse((r) => r.url().endsWith(`/api/v1/keys/${id}`) && r.request().method() === "GET");
    await dialog.getByRole("button", { name: "Confirmer" }).click();
    await reloaded;
    assert.deepEqual(replaced, [{ ...suggestion, reason: "access review" }]);
    await page.getByRole("status").filter({ hasText: "Permissions remplacées par la suggestion." }).waitFor();
    await page.getByRole("region", { name: "Revue des accès" }).getByRole("table", { name: "Autorisations" }).waitFor();
    assert.deepEqual(asked, [90, 90], "the key's page, review included, is read again");
  });
});

test("the dry run lists the calls the suggestion would have refused, and cancelling changes nothing", async () => {
  const id = await reviewedKey("Welyb suggestion annulée");
  const replaced = [];
  await mocking([
    reviewRoute(id, (days) => ({ body: accessReview(days, { suggestion: { methods: ["payroll.payslips.read"], companies: ["ACME"] } }) })),
    [(url) => url.pathname === `/api/v1/keys/${id}/access-review/simulate`, (route) =>
      answerJson(route, { calls: 1234, would_be_refused: 1, refused: [{ method: "payroll.variables.read", company: "ACME", calls: 1 }] })],
    [(url) => url.pathname === `/api/v1/keys/${id}/permissions`, (route) => {
      if (route.request().method() === "PUT") replaced.push(route.request().postDataJSON());
      return route.fallback();
    }],
  ], async () => {
    await openKey(id);
    await page.getByRole("heading", { name: "Welyb suggestion annulée" }).waitFor();
    await page.getByLabel("Langue").selectOption("en");
    await page.getByRole("region", { name: "Access review" }).getByRole("button", { name: "Apply the suggestion" }).click();
    const dialog = page.getByRole("dialog", { name: "Apply the suggestion" });
    await dialog.getByText("1 of 1,234 calls of the last 90 days would have been refused.").waitFor();
    await dialog.getByText("Calls that would have been refused:").waitFor();
    assert.match((await dialog.getByRole("listitem").allInnerTexts()).join("\n"), /payroll\.variables\.read — ACME — 1 call$/);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.deepEqual(replaced, []);
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("region", { name: "Revue des accès" }).waitFor();
  });
});

test("a partial review says so, and its suggestion, which keeps the current permissions, offers nothing to apply", async () => {
  const id = await reviewedKey("Welyb revue partielle");
  await mocking([reviewRoute(id, (days) => ({ body: accessReview(days, {
    complete: false,
    suggestion: { methods: ["payroll.*", "employees.read"], companies: "all" },
    left_out: { methods: ["payroll.legacy.read"], companies: ["INITECH"] },
  }) }))], async () => {
    await openKey(id);
    const review = page.getByRole("region", { name: "Revue des accès" });
    await review.getByText(/^Revue partielle : une partie des appels a dépassé la limite de comptage de cette clé\. Par prudence, la suggestion garde les permissions actuelles\.$/).waitFor();
    await review.getByText("Les permissions actuelles correspondent déjà à l'usage : rien à retirer.").waitFor();
    await review.getByText(/laissées hors de la suggestion : payroll\.legacy\.read, INITECH\.$/).waitFor();
    assert.equal(await review.getByRole("button", { name: "Appliquer la suggestion" }).count(), 0);
    await page.getByLabel("Langue").selectOption("en");
    await page.getByRole("region", { name: "Access review" }).getByText(/^Partial review: some calls went beyond this key's counting bound\./).waitFor();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("region", { name: "Revue des accès" }).waitFor();
  });
});

test("a review without traffic says there is nothing to review yet and suggests nothing", async () => {
  const id = await reviewedKey("Welyb sans trafic");
  await mocking([reviewRoute(id, (days) => ({ body: accessReview(days, {
    calls: 0, refused: [],
    methods: [{ grant: "payroll.*", used: [] }, { grant: "employees.read", used: [] }],
    companies: { scope: "all", used: [] },
    suggestion: { methods: [], companies: [] },
  }) }))], async () => {
    await openKey(id);
    const review = page.getByRole("region", { name: "Revue des accès" });
    await review.getByText("Aucun trafic à examiner sur les 90 derniers jours : la clé n'a encore fait aucun appel. Pas de suggestion pour l'instant.").waitFor();
    assert.equal(await review.getByRole("button").count(), 0, "no suggestion to apply");
    assert.equal(await review.getByRole("table").count(), 0);
  });
});

test("a review that cannot be read is told in its panel and the rest of the key's page works", async () => {
  const id = await reviewedKey("Welyb revue absente");
  await mocking([reviewRoute(id, (days) => (days === 90
    ? { status: 404, body: { type: "about:blank", title: "Not Found", status: 404, code: "not_found", detail: "no such route" } }
    : { status: 503, body: { type: "about:blank", title: "Service Unavailable", status: 503, code: "unavailable", detail: "store down" } }))], async () => {
    await openKey(id);
    const review = page.getByRole("region", { name: "Revue des accès" });
    await review.getByText("La revue des accès n'est pas disponible pour cette clé.").waitFor();
    await page.locator("#usage").getByText("Aucune vérification sur la période").waitFor();
    assert.ok(await page.getByRole("button", { name: "Enregistrer les limites" }).isVisible());
    assert.ok(await page.getByRole("heading", { name: "Historique" }).isVisible());
    await review.getByLabel("365 jours").check();
    await review.getByText(/^La revue des accès est momentanément indisponible ; le reste de la page fonctionne\./).waitFor();
    assert.ok(await page.getByRole("heading", { name: "Welyb revue absente", level: 1 }).isVisible());
  });
});

test("the list's “unused authorizations” filter asks for keys with a grant unused over 90 days", async () => {
  const dormantId = await reviewedKey("Welyb autorisation dormante");
  await reviewedKey("Welyb autorisations utilisées");
  const { body: all } = await api("GET", "/keys?limit=100");
  const dormant = all.data.find((key) => key.id === dormantId);
  const asked = [];
  await mocking([[(url) => url.pathname === "/api/v1/keys", (route) => {
    const url = new URL(route.request().url());
    asked.push(url.search);
    if (url.searchParams.get("unused_grants") !== "true") return route.fallback();
    return answerJson(route, { data: [dormant], next_cursor: null });
  }]], async () => {
    await page.evaluate(() => { location.hash = "#/"; });
    await page.getByRole("heading", { name: "APIs externes" }).waitFor();
    await page.getByRole("row", { name: /Welyb autorisations utilisées/ }).waitFor();
    assert.ok(await page.locator("tbody tr").count() > 1);

    await page.getByLabel("Autorisations inutilisées (90 j)").check();
    await page.getByRole("row", { name: /Welyb autorisations utilisées/ }).waitFor({ state: "detached" });
    assert.deepEqual(await page.locator("tbody tr td:first-child").allInnerTexts(), ["Welyb autorisation dormante"]);
    assert.match(asked.at(-1), /[?&]unused_grants=true(&|$)/);
    assert.match(asked.at(-1), /[?&]limit=25(&|$)/, "with the list's other parameters");

    await page.getByLabel("Autorisations inutilisées (90 j)").uncheck();
    await page.getByRole("row", { name: /Welyb autorisations utilisées/ }).waitFor();
    assert.doesNotMatch(asked.at(-1), /unused_grants/);

    await page.getByLabel("Langue").selectOption("en");
    await page.getByLabel("Unused authorizations (90 d)").waitFor();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  });
});

test("on the real server, a key's traffic shows in its review, and applying the suggestion narrows it with the reason “access review”", async () => {
  const { body: created } = await api("POST", "/keys", { label: "Paie revue réelle", methods: ["payroll.*", "employees.read"] });
  for (let i = 0; i < 3; i++) assert.equal(await verify(created.key, "payroll.payslips.read", "ACME"), "VALID");
  assert.equal(await verify(created.key, "payroll.variables.read", "ACME"), "VALID");
  for (let i = 0; i < 2; i++) assert.equal(await verify(created.key, "documents.read", "GLOBEX"), "METHOD_NOT_ALLOWED");
  // verify-key writes its counts in batches, 500 ms after the first verification they hold.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { body } = await api("GET", `/keys/${created.id}/access-review`);
    if (body.calls === 4 && body.refused[0]?.calls === 2) break;
    assert.ok(Date.now() < deadline, `the counts never showed: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  await openKey(created.id);
  const review = page.getByRole("region", { name: "Revue des accès" });
  const grants = review.getByRole("table", { name: "Autorisations" });
  await grants.waitFor();
  assert.deepEqual((await cellsOf(grants.getByRole("row", { name: /employees\.read/ }))).slice(1), ["0", "Inutilisée"]);
  assert.equal((await cellsOf(grants.getByRole("row", { name: /^payroll\.\*/ })))[1], "4");
  assert.deepEqual((await cellsOf(review.getByRole("table", { name: "Tentatives refusées" }).getByRole("row", { name: /documents\.read/ }))).slice(1, 4),
    ["GLOBEX", "Méthode non autorisée", "2"]);

  await review.getByRole("button", { name: "Appliquer la suggestion" }).click();
  const dialog = page.getByRole("dialog", { name: "Appliquer la suggestion" });
  await dialog.getByText("0 des 4 appels des 90 derniers jours auraient été refusés.").waitFor();
  // The status may still hold this text from an earlier test: wait for the PUT itself.
  const replaced = page.waitForResponse((r) => r.url().endsWith(`/api/v1/keys/${created.id}/permissions`) && r.request().method() === "PUT");
  await dialog.getByRole("button", { name: "Confirmer" }).click();
  assert.equal((await replaced).status(), 200);
  await page.getByRole("status").filter({ hasText: "Permissions remplacées par la suggestion." }).waitFor();

  const { body: key } = await api("GET", `/keys/${created.id}`);
  assert.deepEqual([key.methods, key.companies], [["payroll.payslips.read", "payroll.variables.read"], ["ACME"]]);
  const { body: events } = await api("GET", `/keys/${created.id}/events`);
  assert.equal(events.data[0].type, "permissions_changed");
  assert.equal(events.data[0].changes.reason, "access review");
  assert.equal(await verify(created.key, "payroll.payslips.read", "ACME"), "VALID");
  assert.equal(await verify(created.key, "employees.read", "ACME"), "METHOD_NOT_ALLOWED");
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("region", { name: "Access review" }).getByText("The current permissions already match the usage: nothing to take away.").waitFor();
  await page.getByLabel("Language").selectOption("fr");
});

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

/** Opens the Webhooks tab from the keys' list. */
async function openWebhooks() {
  await page.evaluate(() => { location.hash = "#/"; });
  const tabs = page.getByRole("navigation", { name: "Rubriques des APIs externes" });
  await tabs.getByRole("link", { name: "Clés d'API" }).and(page.locator("[aria-current=page]")).waitFor();
  await tabs.getByRole("link", { name: "Webhooks", exact: true }).click();
  await page.getByRole("button", { name: "Ajouter un webhook" }).waitFor();
}

/** Opens the page of webhook `id` afresh (from the list, as its address may already be the
 *  page's) and waits for its delivery log. */
async function openWebhook(id) {
  await openWebhooks();
  await page.evaluate((hash) => { location.hash = hash; }, `#/webhooks/${id}`);
  await page.locator("#deliveries:not([aria-busy])").waitFor();
}

test("the Webhooks tab lists each webhook with its state, and says when the service disabled one for failing deliveries", async () => {
  const service = webhooksService({
    wh_on: webhook("wh_on", { description: "Welyb alertes" }),
    wh_off: webhook("wh_off", { enabled: false, events: ["*"] }),
    wh_failing: webhook("wh_failing", { enabled: false, disabled_reason: "failing", description: "Ancien récepteur" }),
  });
  await mocking([service.route], async () => {
    await openWebhooks();
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
    await shot("12-webhooks");

    await page.getByRole("link", { name: "https://partner.example/hooks/wh_failing" }).click();
    const notice = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Désactivé : échecs de livraison depuis 5 jours" }) });
    await notice.getByText("tous ses messages ont échoué pendant 5 jours").waitFor();
    assert.ok(await page.getByRole("button", { name: "Réactiver" }).isVisible());
    await shot("17-webhook-disabled-failing");

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
  const service = webhooksService({});
  await mocking([service.route], async () => {
    await openWebhooks();
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
    await shot("13-webhook-add");
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
    await shot("14-webhook-secret-shown-once");
    await secretDialog.getByRole("button", { name: "J'ai copié le secret" }).click();

    await page.getByRole("heading", { name: "Welyb production", level: 1 }).waitFor();
    assert.ok(page.url().endsWith("#/webhooks/wh_created"));
    assert.ok(!(await page.content()).includes(shown), "the secret is gone from the page");
  });
});

test("an address the server refuses shows its detail next to the field, and the dialog stays open", async () => {
  const detail = "url: http://10.0.0.7/hook is outside webhook_origin (https://*)";
  const service = webhooksService({}, { answers: { "POST /webhooks": { status: 422, body: {
    type: "about:blank", title: "Unprocessable Entity", status: 422, code: "invalid_url", detail } } } });
  await mocking([service.route], async () => {
    await openWebhooks();
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
  const service = webhooksService({ wh_on: webhook("wh_on", { description: "Welyb alertes" }) });
  await mocking([service.route], async () => {
    await openWebhook("wh_on");
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
  const service = webhooksService({ wh_on: webhook("wh_on") });
  await mocking([service.route], async () => {
    await openWebhook("wh_on");
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
  const delivered = webhooksService({ wh_on: webhook("wh_on") });
  await mocking([delivered.route], async () => {
    await openWebhook("wh_on");
    await page.getByRole("button", { name: "Envoyer un test" }).click();
    await page.getByText("Résultat du test : Livré (HTTP 200, 35 ms)").waitFor();
    assert.deepEqual(changesSent(delivered), [{ method: "POST", path: "/webhooks/wh_on/test", body: null }]);
  });
  const refused = webhooksService({ wh_on: webhook("wh_on") }, {
    testDelivery: delivery("msg_test", "failed", [attempt("2026-12-06T10:00:01Z", null, 10002, "connection refused")]) });
  await mocking([refused.route], async () => {
    await openWebhook("wh_on");
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
  const failed = delivery("msg_failed", "failed", [
    attempt("2026-12-06T08:00:00Z", 500, 120), attempt("2026-12-06T08:00:05Z", null, 10002, "connection refused")], { type: "key.leak_reported" });
  const pending = delivery("msg_pending", "pending", [attempt("2026-12-06T09:00:00Z", 503, 80)],
    { type: "key.deactivated", next_attempt_at: "2026-12-06T09:05:00Z" });
  const service = webhooksService({ wh_on: webhook("wh_on") }, { logs: { wh_on: [pending, failed, DELIVERED] } });
  await mocking([service.route], async () => {
    await openWebhook("wh_on");
    const log = page.getByRole("table", { name: "Journal des livraisons" });
    const row = (id) => log.getByRole("row", { name: new RegExp(id) });
    await row("msg_failed").waitFor();
    assert.deepEqual(await row("msg_failed").locator(".attempts li").allInnerTexts(),
      [`${await formatted("2026-12-06T08:00:00Z")} — HTTP 500, 120 ms`, `${await formatted("2026-12-06T08:00:05Z")} — connection refused, 10\u202f002 ms`]);
    assert.match(await row("msg_failed").innerText(), /Fuite signalée \(clé trouvée publiée\)/);
    assert.match(await row("msg_failed").locator("td").nth(1).innerText(), /^Échec$/);
    assert.match(await row("msg_pending").locator("td").nth(1).innerText(), /^En attente\nProchain essai : /);
    assert.equal(await row("msg_ok").locator("td").nth(1).innerText(), "Livré");
    assert.equal(await row("msg_ok").getByRole("button", { name: "Réessayer" }).count(), 0, "a delivered message is not retried");
    assert.equal(await row("msg_pending").getByRole("button", { name: "Réessayer" }).count(), 1);
    await shot("15-webhook-delivery-log");

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

/** A time as the screen shows it in French (the browser's time zone). */
function formatted(iso) {
  return page.evaluate((value) => new Intl.DateTimeFormat("fr-FR", { dateStyle: "medium", timeStyle: "short" }).format(new Date(value)), iso);
}

test("deleting a webhook asks for confirmation first", async () => {
  const service = webhooksService({ wh_on: webhook("wh_on"), wh_other: webhook("wh_other") });
  await mocking([service.route], async () => {
    await openWebhook("wh_on");
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
  await openWebhooks();
  await page.getByRole("button", { name: "Ajouter un webhook" }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter un webhook" });
  await dialog.getByLabel("Adresse (URL HTTPS)").fill(`${providerOrigin}/hook`);
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
  while (!(message = hooks.find((h) => JSON.parse(h.body).type === "key.created"))) {
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
  await openWebhook(id);
  await page.getByRole("row", { name: /key\.created/ }).getByText("Livré", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Envoyer un test" }).click();
  await page.getByText(/^Résultat du test : Livré \(HTTP 204, /).waitFor();
  assert.ok(hooks.some((h) => JSON.parse(h.body).type === "webhook.test"));

  assert.equal((await api("DELETE", `/webhooks/${id}`)).status, 204);
  assert.equal((await api("DELETE", `/keys/${key.id}`)).status, 204);
});

test("on a deployment without the webhooks service, the tab says so", async () => {
  // A deployment that does not run the webhooks component (spin up -c ...): its routes fall
  // to manage-keys, which answers 404 "no route".
  const absent = (route) => route.fulfill({
    status: 404,
    contentType: "application/problem+json",
    body: JSON.stringify({ type: "about:blank", title: "Not found", status: 404, detail: "no route for /api/v1/webhooks", code: "not_found" }),
  });
  await page.route("**/api/v1/webhooks**", absent);
  try {
    await openWebhooks().catch(() => {});
    await page.getByText("Les webhooks ne sont pas disponibles sur ce déploiement.").waitFor();
    await page.getByRole("link", { name: "Clés d'API" }).click();
    await page.getByRole("button", { name: "Ajouter", exact: true }).waitFor();
  } finally {
    await page.unroute("**/api/v1/webhooks**", absent);
  }
});

// ---------- key expiry range (max_key_lifetime_days on a mocked health route) ----------

/** The local day `n` days from today in the browser, as a date input holds it. */
function dayFromToday(n) {
  return page.evaluate((days) => {
    const d = new Date();
    d.setDate(d.getDate() + days);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }, n);
}

/** The start (local time) of a yyyy-mm-dd day in the browser, as RFC 3339. */
function startOfDay(day) {
  return page.evaluate((value) => {
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d).toISOString().replace(/\.\d{3}Z$/, "Z");
  }, day);
}

test("with a 90-day lifetime limit, creating a key requires an expiry within 90 days, and the server's refusal shows", async () => {
  const health = await (await fetch(`${base}/api/v1/health`)).json();
  const detail = "expires_at is more than max_key_lifetime_days (90) from now";
  let refuse = true;
  await mocking([
    [(url) => url.pathname === "/api/v1/health", (route) => answerJson(route, { ...health, max_key_lifetime_days: 90 })],
    [(url) => url.pathname === "/api/v1/keys", (route) => (route.request().method() === "POST" && refuse
      ? answerJson(route, { type: "about:blank", title: "Unprocessable Entity", status: 422, code: "expiry_too_far", detail }, 422)
      : route.fallback())],
  ], async () => {
    await page.evaluate(() => { location.hash = "#/"; });
    await page.getByRole("button", { name: "Ajouter", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
    await dialog.getByText("Expiration obligatoire, au plus dans 90 jours.").waitFor();
    const expiry = dialog.getByLabel("Date d'expiration");
    const last = await dayFromToday(90);
    assert.equal(await expiry.getAttribute("max"), last);
    assert.equal(await expiry.getAttribute("min"), await dayFromToday(1));
    assert.equal(await expiry.getAttribute("required"), "");

    await dialog.getByLabel("Libellé").fill("Welyb expiration");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText(/^Choisissez une date d'expiration, au plus tard le /).waitFor();
    await expiry.fill(await dayFromToday(91));
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    await dialog.getByText(/^Choisissez une date au plus tard le /).waitFor();

    await expiry.fill(last);
    const refused = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    const answer = await refused;
    assert.equal(answer.status(), 422);
    assert.deepEqual(answer.request().postDataJSON(), { label: "Welyb expiration", expires_at: await startOfDay(last) });
    await dialog.locator("#expires-error").getByText(`Valeur refusée : ${detail}`).waitFor();
    await shot("16-key-expiry-range");
    assert.equal(await expiry.getAttribute("aria-invalid"), "true");

    // The real server (no limit of its own) takes the same request.
    refuse = false;
    const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Enregistrer" }).click();
    assert.equal((await created).status(), 201);
    const { id, expires_at: expiresAt } = await (await created).json();
    assert.equal(expiresAt, await startOfDay(last));
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
    const sooner = await dayFromToday(30);
    await edit.getByLabel("Date d'expiration").fill(sooner);
    const patched = page.waitForResponse((r) => r.url().endsWith(`/api/v1/keys/${id}`) && r.request().method() === "PATCH");
    await edit.getByRole("button", { name: "Enregistrer" }).click();
    assert.equal((await patched).status(), 200);
    assert.deepEqual((await patched).request().postDataJSON(), { expires_at: await startOfDay(sooner) });
    await page.getByRole("status").filter({ hasText: "Enregistré." }).waitFor();
    assert.equal((await api("GET", `/keys/${id}`)).body.expires_at, await startOfDay(sooner));

    await page.getByLabel("Langue").selectOption("en");
    await page.getByRole("button", { name: "Change the expiry" }).click();
    await page.getByRole("dialog", { name: "Change the expiry" }).getByText("Expiry required, at most 90 days from now.").waitFor();
    await page.getByRole("dialog", { name: "Change the expiry" }).getByRole("button", { name: "Cancel" }).click();
    await page.getByLabel("Language").selectOption("fr");
    await page.getByRole("button", { name: "Modifier l'expiration" }).waitFor();
  });
});

test("without a lifetime limit, the expiry is optional and unbounded", async () => {
  await page.evaluate(() => { location.hash = "#/"; });
  await page.getByRole("button", { name: "Ajouter", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Ajouter une clé d'API" });
  await dialog.getByText("Facultative : laissez vide pour une clé sans expiration.").waitFor();
  const expiry = dialog.getByLabel("Date d'expiration");
  assert.equal(await expiry.getAttribute("max"), null);
  assert.equal(await expiry.getAttribute("required"), null);
  await dialog.getByRole("button", { name: "Annuler" }).click();
  await dialog.waitFor({ state: "detached" });
});
