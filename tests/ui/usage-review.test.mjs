// Browser tests of a key's usage (the chart, the list's 24-hour counts) and of its access
// review (against review routes played in the page, then on the real server).
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerJson, api, createKey, eventually, mocking, shot, signedIn, useApp, verify } from "./harness.mjs";

useApp();

// ---------- usage ----------

/** A key's verifications over the default hourly range, summed by code. */
async function usageByCode(id) {
  const { status, body } = await api("GET", `/keys/${id}/usage?granularity=hour`);
  assert.equal(status, 200);
  const sums = {};
  for (const bucket of body.data) for (const [code, n] of Object.entries(bucket.counts)) sums[code] = (sums[code] ?? 0) + n;
  return sums;
}

test("the usage chart stacks the key's verifications by code, in French and in English", async () => {
  const created = await createKey({ label: "Welyb statistiques", methods: ["employees.read"] });
  for (let i = 0; i < 3; i += 1) assert.equal(await verify(created.key, "employees.read"), "VALID");
  for (let i = 0; i < 2; i += 1) assert.equal(await verify(created.key, "payroll.payslips.read"), "METHOD_NOT_ALLOWED");
  await eventually("the five verifications in the usage", async () => {
    const sums = await usageByCode(created.id);
    return sums.VALID === 3 && sums.METHOD_NOT_ALLOWED === 2;
  });

  const page = await signedIn(`#/keys/${created.id}`);
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
  await shot(page, "10-key-usage");

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
  const busy = await createKey({ label: "Welyb trafic du jour", methods: ["employees.read"] });
  await createKey({ label: "MyCompanyFile sans trafic" });
  for (let i = 0; i < 3; i += 1) assert.equal(await verify(busy.key, "employees.read"), "VALID");
  for (let i = 0; i < 2; i += 1) assert.equal(await verify(busy.key, "payroll.payslips.read"), "METHOD_NOT_ALLOWED");
  await eventually("the list's 24 h count", async () => {
    const { body } = await api("GET", "/keys?limit=100");
    return body.data.find((key) => key.id === busy.id)?.requests_24h === 5;
  });
  const page = await signedIn();
  const count = (label) => page.getByRole("row", { name: new RegExp(label) }).locator("td.num");
  // The list renders after the route changes: wait for it before counting its headers.
  const header = page.getByRole("columnheader", { name: "Requêtes (24 h)" });
  await header.waitFor();
  assert.equal(await header.count(), 1);
  assert.equal(await count("Welyb trafic du jour").innerText(), "5");
  assert.equal(await count("MyCompanyFile sans trafic").innerText(), "0");
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("columnheader", { name: "Requests (24 h)" }).waitFor();
  await page.getByLabel("Language").selectOption("fr");
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
  return (await createKey({ label, methods: ["payroll.*", "employees.read"] })).id;
}

/** Opens key `id`'s page in `page` (the routes of its review mocked beforehand). */
async function openKey(page, id) {
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
  const page = await signedIn();
  await mocking(page, [reviewRoute(id, (days) => ({ body: accessReview(days) }), asked)], async () => {
    await openKey(page, id);
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
    await shot(page, "11-access-review");

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
  const page = await signedIn();
  await mocking(page, [
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
    await openKey(page, id);
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
  const page = await signedIn();
  await mocking(page, [
    reviewRoute(id, (days) => ({ body: accessReview(days, { suggestion: { methods: ["payroll.payslips.read"], companies: ["ACME"] } }) })),
    [(url) => url.pathname === `/api/v1/keys/${id}/access-review/simulate`, (route) =>
      answerJson(route, { calls: 1234, would_be_refused: 1, refused: [{ method: "payroll.variables.read", company: "ACME", calls: 1 }] })],
    [(url) => url.pathname === `/api/v1/keys/${id}/permissions`, (route) => {
      if (route.request().method() === "PUT") replaced.push(route.request().postDataJSON());
      return route.fallback();
    }],
  ], async () => {
    await openKey(page, id);
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
  const page = await signedIn();
  await mocking(page, [reviewRoute(id, (days) => ({ body: accessReview(days, {
    complete: false,
    suggestion: { methods: ["payroll.*", "employees.read"], companies: "all" },
    left_out: { methods: ["payroll.legacy.read"], companies: ["INITECH"] },
  }) }))], async () => {
    await openKey(page, id);
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
  const page = await signedIn();
  await mocking(page, [reviewRoute(id, (days) => ({ body: accessReview(days, {
    calls: 0, refused: [],
    methods: [{ grant: "payroll.*", used: [] }, { grant: "employees.read", used: [] }],
    companies: { scope: "all", used: [] },
    suggestion: { methods: [], companies: [] },
  }) }))], async () => {
    await openKey(page, id);
    const review = page.getByRole("region", { name: "Revue des accès" });
    await review.getByText("Aucun trafic à examiner sur les 90 derniers jours : la clé n'a encore fait aucun appel. Pas de suggestion pour l'instant.").waitFor();
    assert.equal(await review.getByRole("button").count(), 0, "no suggestion to apply");
    assert.equal(await review.getByRole("table").count(), 0);
  });
});

test("a review that cannot be read is told in its panel and the rest of the key's page works", async () => {
  const id = await reviewedKey("Welyb revue absente");
  const page = await signedIn();
  await mocking(page, [reviewRoute(id, (days) => (days === 90
    ? { status: 404, body: { type: "about:blank", title: "Not Found", status: 404, code: "not_found", detail: "no such route" } }
    : { status: 503, body: { type: "about:blank", title: "Service Unavailable", status: 503, code: "unavailable", detail: "store down" } }))], async () => {
    await openKey(page, id);
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
  const page = await signedIn();
  await mocking(page, [[(url) => url.pathname === "/api/v1/keys", (route) => {
    const url = new URL(route.request().url());
    asked.push(url.search);
    if (url.searchParams.get("unused_grants") !== "true") return route.fallback();
    return answerJson(route, { data: [dormant], next_cursor: null });
  }]], async () => {
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
  const created = await createKey({ label: "Paie revue réelle", methods: ["payroll.*", "employees.read"] });
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

  const page = await signedIn();
  await openKey(page, created.id);
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
  // The PUT itself is awaited, then the feedback it leads to.
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

