// What the browser tests of the "APIs externes" screen share: the app on `spin up` (one per
// test file, with a fresh state directory), the identity provider and webhook receiver it
// talks to, identity tokens, API calls, and Chromium with a fresh browser context per test.
// Screenshots of the main screens go to target/screenshots/, or to $UI_SCREENSHOTS_DIR
// (the README's come from `UI_SCREENSHOTS_DIR=docs/screenshots scripts/ui-test.sh`).
import { before, after, afterEach } from "node:test";
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
/** How long `spin up` may take to answer its health check. */
const START_TIMEOUT_MS = 120_000;
/** How long `spin up` has to exit after SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 5000;
/** The companies every test file's app knows, by id. */
const COMPANIES = [["ACME", "Acme SA"], ["GLOBEX", "Globex SARL"]];
/** The page size of the key list the API allows at most. */
const KEYS_PAGE = 100;
/** The browser window of a page (a desktop screen). */
export const DESKTOP = { width: 1280, height: 900 };

// GitLab's secret-detection key, made for this run and given to the app inline, so that the
// tests can report a leaked key the way GitLab does.
const GITLAB = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const GITLAB_KEY_ID = "ui-test-gitlab-1";
const GITLAB_KEYS = JSON.stringify({ public_keys: [{ key_identifier: GITLAB_KEY_ID,
  key: GITLAB.publicKey.export({ type: "spki", format: "pem" }), is_current: true }] });
/** The key sealing webhook secrets in this run (32 bytes, standard base64). */
const WEBHOOK_KEY = Buffer.alloc(32, 7).toString("base64");

/** The app of this test file: its origin; the identity provider's origin, which is also the
 *  webhook receiver's (`POST /hook`); the webhook messages the receiver got
 *  (`{ headers, body }`); and how many times the provider's JWKS was fetched. */
export const app = { base: null, providerOrigin: null, hooks: [], jwksHits: 0 };

function b64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** An HS256 identity token, signed with the shared secret. */
export function token(rights = ["platform_configuration"]) {
  const head = b64url({ alg: "HS256", typ: "JWT" });
  // The app reads the rights where the provider puts them (identity_rights_claim), for
  // tokens of both kinds.
  const body = b64url({ iss: ISSUER, aud: AUDIENCE, sub: "u-2002", name: "Dominique Leroy", exp: Math.floor(Date.now() / 1000) + 3600, realm_access: { roles: rights } });
  const sig = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** An ES256 token of the provider, Keycloak-shaped (the rights in `realm_access.roles`). */
export function providerToken(roles = ["platform_configuration"]) {
  const head = b64url({ alg: "ES256", kid: PROVIDER_KID, typ: "JWT" });
  const now = Math.floor(Date.now() / 1000);
  const body = b64url({ iss: ISSUER, aud: [AUDIENCE, "account"], sub: "f:9e1d:noor", name: "Noor Haddad",
    preferred_username: "noor.haddad", realm_access: { roles }, iat: now, exp: now + 3600 });
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), { key: PROVIDER_KEY.privateKey, dsaEncoding: "ieee-p1363" });
  return `${head}.${body}.${sig.toString("base64url")}`;
}

/** The administrator's identity token (HS256, with the platform configuration right). */
export const ADMIN = token();

let provider;
let server;
let stateDir;
let browser;
/** The browser contexts opened by the running test, closed when it ends. */
const contexts = new Set();

/** Serves the provider's JWKS (`GET /certs`) and the webhook receiver (`POST /hook`) on a free
 *  loopback port; resolves to its origin. */
function startProvider() {
  const jwk = { ...PROVIDER_KEY.publicKey.export({ format: "jwk" }), kid: PROVIDER_KID, alg: "ES256", use: "sig" };
  provider = createHttpServer((request, response) => {
    if (request.method === "POST" && request.url === "/hook") {
      const chunks = [];
      request.on("data", (chunk) => chunks.push(chunk));
      request.on("end", () => {
        app.hooks.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
        response.writeHead(204).end();
      });
      return;
    }
    if (request.url !== "/certs") { response.writeHead(404).end(); return; }
    app.jwksHits += 1;
    response.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=3600" });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  return new Promise((resolve) => provider.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${provider.address().port}`)));
}

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
  app.providerOrigin = origin;
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
  app.base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await fetch(`${app.base}/.well-known/spin/health`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`spin up did not answer on ${app.base}`);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
}

/** Stops the process group started above (`spin up` and its `spin trigger http` child),
 *  waits for it to exit (SIGKILL after a grace period), then removes its state directory. */
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
    const timer = setTimeout(() => signal("SIGKILL"), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  }
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  await new Promise((resolve) => (provider ? provider.close(resolve) : resolve()));
}

/** Runs this test file against its own app and browser: starts them before its first test
 *  (the app knowing the companies ACME and GLOBEX), closes the browser contexts each test
 *  opened when it ends, and stops everything after the last. */
export function useApp() {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await startServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    for (const [id, name] of COMPANIES) {
      assert.equal((await api("PUT", `/companies/${id}`, { name })).status, 201);
    }
  });
  afterEach(async () => {
    await Promise.all([...contexts].map((context) => context.close()));
    contexts.clear();
  });
  after(async () => {
    await browser?.close();
    await stopServer();
  });
}

/** A page in a browser context of its own (nothing stored, French, clipboard allowed), on
 *  about:blank; `viewport` replaces the desktop window. */
export async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, locale: "fr-FR", permissions: ["clipboard-read", "clipboard-write"] });
  contexts.add(context);
  return context.newPage();
}

/** A new page signed in as the platform signs in (the administrator's token handed over in
 *  the fragment), showing the key list, then the address `hash` when given. */
export async function signedIn(hash = null) {
  const page = await newPage();
  await page.goto(`${app.base}/#token=${ADMIN}`);
  await page.getByRole("heading", { name: "APIs externes" }).waitFor();
  if (hash) await page.evaluate((to) => { location.hash = to; }, hash);
  return page;
}

/** Saves a screenshot of the whole page (of its window with `fullPage: false`) as `name`.png. */
export async function shot(page, name, { fullPage = true } = {}) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** Calls the API as `bearer` (the administrator by default); answers the status and the
 *  JSON body (null for a 204). */
export async function api(method, route, body, bearer = ADMIN) {
  const headers = { authorization: `Bearer ${bearer}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${app.base}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

/** Creates a key through the API (`fields` as `POST /keys` takes them); answers it with its
 *  secret (`key`). */
export async function createKey(fields) {
  const { status, body } = await api("POST", "/keys", fields);
  assert.equal(status, 201, JSON.stringify(body));
  return body;
}

/** Deletes every key of this file's app through the API, for a test about the whole list:
 *  the tests of a file run one at a time, and each makes the keys it needs. */
export async function removeEveryKey() {
  for (;;) {
    const { status, body } = await api("GET", `/keys?limit=${KEYS_PAGE}`);
    assert.equal(status, 200);
    if (body.data.length === 0) return;
    for (const key of body.data) assert.equal((await api("DELETE", `/keys/${key.id}`)).status, 204);
  }
}

/** The verification code `/api/v1/verify` answers for `key`, `method` and `company`. */
export async function verify(key, method, company) {
  const { status, body } = await api("POST", "/verify", { key, method, company });
  assert.equal(status, 200);
  return body.code;
}

/** Reports `key` as found at `url`, signed as GitLab signs (DER ECDSA P-256 / SHA-256);
 *  answers GitLab's feedback. */
export async function reportLeak(key, url) {
  const body = JSON.stringify([{ type: "ingeneo_api_key", token: key, url }]);
  const signature = sign("sha256", Buffer.from(body), GITLAB.privateKey).toString("base64");
  const response = await fetch(`${app.base}/api/v1/secret-scanning/gitlab`, { method: "POST", body,
    headers: { "content-type": "application/json", "gitlab-public-key-identifier": GITLAB_KEY_ID, "gitlab-public-key-signature": signature } });
  assert.equal(response.status, 200);
  return response.json();
}

/** Retries `probe` until it answers something truthy, and answers that: usage counts reach
 *  the API about a second after the verifications (the edges batch them). */
export async function eventually(what, probe, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Answers a request of the page with `body` as JSON. */
export function answerJson(route, body, status = 200) {
  return route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
}

/** Serves `routes` ([URL predicate, handler] pairs) in `page` while `run` runs. */
export async function mocking(page, routes, run) {
  for (const [url, handler] of routes) await page.route(url, handler);
  try {
    await run();
  } finally {
    for (const [url, handler] of routes) await page.unroute(url, handler);
  }
}
