// Browser tests of a key reported as leaked, by GitLab's secret detection or through the
// public leak report: the banner of its page, its history, the list's flag and filter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { app, createKey, removeEveryKey, reportLeak, shot, signedIn, useApp, verify } from "./harness.mjs";

useApp();

test("a key reported as leaked shows the banner with the place, and a flag in the list", async () => {
  // The leak filter is checked against the whole list: the other keys of this file's app are
  // removed first (through the API; its tests run one at a time), and a key nobody reported
  // stands beside the reported one.
  await removeEveryKey();
  await createKey({ label: "Clé non signalée" });
  const created = await createKey({ label: "Clé publiée par erreur" });
  const url = "https://gitlab.com/partner/app/-/blob/main/config.env";
  const [feedback] = await reportLeak(created.key, url);
  assert.equal(feedback.label, "true_positive");
  assert.equal(await verify(created.key), "DISABLED");

  const page = await signedIn(`#/keys/${created.id}`);
  const banner = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Fuite signalée" }) });
  await banner.waitFor();
  assert.ok(await banner.getByText("GitLab a trouvé cette clé publiée").isVisible());
  assert.equal(await banner.getByRole("link", { name: "Voir où elle a été trouvée" }).getAttribute("href"), url);
  assert.equal(await page.locator(".facts dd").nth(1).innerText(), "Inactive Fuite signalée", "status and flag");
  assert.equal(await page.getByRole("button", { name: "Réactiver" }).count(), 0, "a published secret is not reactivated");
  assert.ok(await page.getByText("Clé publiée : régénérez-la pour pouvoir la réactiver.").isVisible());
  await page.locator("#history").getByText("Fuite signalée").waitFor();
  await page.locator("#history").getByText(`GitLab · ${url} · clé désactivée`).waitFor();
  await shot(page, "08-leak-reported");
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("heading", { name: "Leak reported" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "See where it was found" }).isVisible());
  await page.getByLabel("Language").selectOption("fr");

  await page.getByRole("link", { name: "Toutes les clés" }).click();
  const row = page.getByRole("row", { name: /Clé publiée par erreur/ });
  await row.waitFor();
  assert.ok(await row.getByText("Fuite signalée").isVisible());
  await page.getByRole("row", { name: /Clé non signalée/ }).waitFor();
  await page.getByLabel("Statut").selectOption("leaked");
  await page.getByRole("row", { name: /Clé non signalée/ }).waitFor({ state: "detached" });
  await page.getByRole("row", { name: /Clé publiée par erreur/ }).waitFor();
  assert.equal(await page.locator("tbody tr").count(), 1, "only the leaked key is listed");
  await page.getByLabel("Statut").selectOption("");
});

test("a key reported through the public leak report shows who reported it, in both languages", async () => {
  const created = await createKey({ label: "Clé signalée publiquement" });
  const response = await fetch(`${app.base}/api/v1/leaks`, { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ keys: [created.key] }) });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { received: 1 });
  assert.equal(await verify(created.key), "DISABLED");

  const page = await signedIn(`#/keys/${created.id}`);
  const banner = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Fuite signalée" }) });
  await banner.waitFor();
  assert.ok(await banner.getByText("Cette clé a été signalée comme publiée par un signalement public").isVisible());
  await page.locator("#history").getByText("Signalement public · clé désactivée").waitFor();
  await page.getByLabel("Langue").selectOption("en");
  await page.getByText("This key was reported as published through a public report").waitFor();
  await page.locator("#history").getByText("Public report · key deactivated").waitFor();
  await page.getByLabel("Language").selectOption("fr");
});
