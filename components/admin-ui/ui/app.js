// The "APIs externes" screen: plain DOM code, no framework, no inline script (strict CSP).
// The identity token lives in memory only: read once from the URL fragment (#token=…) or
// pasted on the sign-in form; never written to localStorage, sessionStorage or a cookie.
// This module holds the page's frame, the sign-in and the routing; core.js what the modules
// share, key-list.js and key-page.js the keys' pages (with leaks.js, limits.js, usage.js,
// permissions.js, review.js and expiry.js), webhooks.js the Webhooks tab.
import { state, t, h, fail, render, focusHeading, helpLinks, onIdentityRefused, onRedraw } from "./core.js";
import { detailView } from "./key-page.js";
import { listView } from "./key-list.js";
import { webhookView, webhooksView } from "./webhooks.js";

const LANG_KEY = "ingeneo.api-keys.lang"; // the language choice is the only thing stored

// ---------- chrome ----------

function chrome() {
  document.documentElement.lang = state.lang;
  document.title = t("pageTitle");
  document.querySelector(".skip").textContent = t("skip");
  document.getElementById("lang-label").textContent = t("language");
  document.getElementById("lang").value = state.lang;
  const out = document.getElementById("sign-out");
  out.textContent = t("signOut");
  out.hidden = !state.token;
  const items = t("crumbs");
  document.getElementById("crumbs").replaceChildren(
    h("ol", {}, items.map((item, i) => h("li", i === items.length - 1 ? { "aria-current": "page" } : {}, item))));
}

// ---------- sign-in and refusal ----------

function signInView(message) {
  const error = h("p", { class: "error", id: "token-error", role: "alert" }, message || "");
  const input = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-error" });
  return h("section", { class: "panel" },
    h("h1", {}, t("signInTitle")),
    h("p", {}, t("signInIntro")),
    h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) { error.textContent = t("tokenEmpty"); input.focus(); return; }
        state.token = token;
        route();
      },
    }, h("label", { for: "token" }, t("tokenLabel")), input, h("p", {}, h("button", { class: "primary", type: "submit" }, t("signIn")))),
    helpLinks());
}

function forbiddenView() {
  return h("section", { class: "panel" }, h("h1", {}, t("forbiddenTitle")), h("p", {}, t("forbiddenText")), helpLinks());
}

function signOut(message) {
  state.token = null;
  state.catalog = null;
  chrome();
  render(signInView(message));
  focusHeading();
}

// ---------- routing ----------

let routed = 0; // only the latest route draws the page: a slower earlier one is dropped

async function route() {
  const request = ++routed;
  chrome();
  if (!state.token) { render(signInView()); focusHeading(); return; }
  const key = location.hash.match(/^#\/keys\/([A-Za-z0-9_]+)$/);
  const webhook = location.hash.match(/^#\/webhooks(?:\/([A-Za-z0-9_-]+))?$/);
  render(h("p", { class: "muted" }, t("loading")));
  try {
    let view;
    if (key) view = await detailView(key[1]);
    else if (webhook) view = webhook[1] ? await webhookView(webhook[1]) : await webhooksView();
    else view = await listView();
    if (request !== routed) return;
    render(view);
    focusHeading();
  } catch (err) { if (request === routed) fail(err); }
}

async function start() {
  const saved = localStorage.getItem(LANG_KEY);
  state.lang = saved === "en" || saved === "fr" ? saved : (navigator.language || "fr").startsWith("en") ? "en" : "fr";
  // The platform hands the token over in the fragment: read it once, then wipe it.
  const fragment = new URLSearchParams(location.hash.startsWith("#token=") ? location.hash.slice(1) : "");
  if (fragment.get("token")) {
    state.token = fragment.get("token");
    history.replaceState(null, "", location.pathname + location.search + "#/");
  }
  document.getElementById("lang").addEventListener("change", (e) => {
    state.lang = e.target.value;
    localStorage.setItem(LANG_KEY, state.lang);
    route();
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  onIdentityRefused({ expired: () => signOut(t("expired")), forbidden: () => render(forbiddenView()) });
  onRedraw(route);
  window.addEventListener("hashchange", route);
  try { state.config = await (await fetch("/config.json")).json(); } catch { state.config = null; }
  await route();
}

start();
