// A key's permissions: the method catalog, the switches of the methods the key may call (one
// by one, a whole group, or all) and the companies it may reach.
import { state, t, h, announce, api, fail } from "./core.js";

export async function loadCatalog() {
  if (!state.catalog) state.catalog = (await api("GET", "/methods")).data;
  return state.catalog;
}

/** A catalog method as the screen names it: its label, then its name. */
export function methodLabel(method) {
  return [method.label[state.lang] || method.label.fr, " ", h("code", { class: "muted" }, method.name)];
}

export function methodsPanel(key, permissions, catalog, refresh) {
  const grants = new Set(permissions.methods);
  const groups = new Map();
  for (const m of catalog) { if (!groups.has(m.group)) groups.set(m.group, []); groups.get(m.group).push(m); }

  async function patch(body) {
    try {
      const updated = await api("PATCH", `/keys/${key.id}/permissions`, body);
      announce(t("saved"));
      refresh(updated);
    } catch (err) { fail(err); refresh(permissions); }
  }
  const toggle = (id, label, grant, { checked, disabled, group }) => h("label", { class: group ? "toggle group" : "toggle", for: id },
    h("input", {
      type: "checkbox", role: "switch", id, checked, disabled, dataset: { grant },
      onchange: (e) => patch(e.target.checked ? { add_methods: [grant] } : { remove_methods: [grant] }),
    }), label);

  const all = grants.has("*");
  const panel = h("div", { class: "panel", id: "methods" }, h("h2", {}, t("methodsTitle")), h("p", { class: "muted" }, t("methodsHelp")),
    toggle("grant-all", t("allMethods"), "*", { checked: all, group: true }));
  for (const [group, methods] of groups) {
    const groupGrant = `${group}.*`;
    const whole = all || grants.has(groupGrant);
    panel.append(h("fieldset", {}, h("legend", {}, group),
      toggle(`grant-${group}`, t("allOfGroup", { group }), groupGrant, { checked: grants.has(groupGrant), disabled: all, group: true }),
      methods.map((m) => toggle(`grant-${m.name.replaceAll(".", "-")}`,
        methodLabel(m), m.name,
        { checked: whole || grants.has(m.name), disabled: whole }))));
  }
  return panel;
}

export function companiesPanel(key, permissions, refresh) {
  let chosen = new Set(Array.isArray(permissions.companies) ? permissions.companies : []);
  const allRadio = h("input", { type: "radio", name: "scope", id: "scope-all", value: "all", checked: permissions.companies === "all" });
  const someRadio = h("input", { type: "radio", name: "scope", id: "scope-some", value: "some", checked: permissions.companies !== "all" });
  const search = h("input", { type: "search", id: "company-q", autocomplete: "off" });
  const list = h("div", { class: "picklist", role: "group", "aria-label": t("companiesTitle") });
  const chips = h("ul", { class: "chips", "aria-label": t("selected") });
  const picker = h("div", {}, h("label", { for: "company-q" }, t("companiesSearch")), search, list, chips);

  function drawChips() {
    chips.replaceChildren(...[...chosen].sort().map((c) => h("li", {}, c)));
    if (chosen.size === 0) chips.replaceChildren(h("li", {}, t("companiesNone")));
  }
  async function loadCompanies() {
    const params = new URLSearchParams({ limit: "100" });
    if (search.value.trim()) params.set("q", search.value.trim());
    try {
      const page = await api("GET", `/companies?${params}`);
      list.replaceChildren(...page.data.map((c) => h("label", { class: "toggle", for: `company-${c.id}` },
        h("input", { type: "checkbox", id: `company-${c.id}`, value: c.id, checked: chosen.has(c.id),
          onchange: (e) => { if (e.target.checked) chosen.add(c.id); else chosen.delete(c.id); drawChips(); } }),
        c.name, " ", h("code", { class: "muted" }, c.id))));
      if (page.data.length === 0) list.replaceChildren(h("p", { class: "muted" }, t("companiesEmpty")));
    } catch (err) { fail(err); }
  }
  const syncPicker = () => { picker.hidden = allRadio.checked; };
  allRadio.addEventListener("change", syncPicker);
  someRadio.addEventListener("change", syncPicker);
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(loadCompanies, 250); });
  syncPicker();
  drawChips();
  loadCompanies();

  const save = h("button", {
    type: "submit", class: "primary",
  }, t("companiesSave"));
  return h("form", {
    class: "panel", id: "companies",
    onsubmit: async (e) => {
      e.preventDefault();
      const companies = allRadio.checked ? "all" : [...chosen];
      try {
        const updated = await api("PATCH", `/keys/${key.id}/permissions`, { companies });
        announce(t("saved"));
        refresh(updated);
      } catch (err) { fail(err); }
    },
  }, h("h2", {}, t("companiesTitle")),
  h("fieldset", {}, h("legend", { class: "sr-only" }, t("companiesTitle")),
    h("label", { class: "toggle", for: "scope-all" }, allRadio, t("companiesAll")),
    h("label", { class: "toggle", for: "scope-some" }, someRadio, t("companiesSome"))),
  picker, h("p", {}, save));
}

