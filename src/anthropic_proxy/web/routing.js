// The routing part of /config: providers (read-only unless the operator's token came with the
// page), their keys (set or not, masked), a test button and the health of each target; the
// ordered routes, edited in place, reordered by drag and drop (or the ↑/↓ buttons), saved
// through POST /api/config {routes}. Validation errors come back per field.
"use strict";

(() => {
  const { t, el, clear, $ } = UI;
  const state = { view: null, routes: [], dragging: null };

  async function load() {
    try {
      state.view = await UI.api("/api/config/routing");
      state.routes = structuredClone(state.view.routes);
      render();
    } catch (error) {
      UI.toast(error.message, "error");
    }
  }

  function render() {
    const v = state.view;
    $("#routing-preset").textContent = v.preset ? t("routingPreset", { mode: v.preset }) : t("routingConfigured");
    $("#providers-locked").hidden = v.providersEditable;
    $("#providers-locked").textContent = v.howToChange;
    renderProviders();
    renderRoutes();
  }

  function healthBadge(label) {
    const h = state.view.health.targets[label];
    if (!h) return el("span", { class: "badge" }, t("healthUnknown"));
    const cls = h.state === "open" ? "state-error" : h.state === "half_open" ? "state-timeout" : "state-success";
    const text = h.state === "open" ? t("healthOpen", { s: Math.round(h.openForS) }) : t("health_" + h.state);
    return el("span", { class: "badge " + cls, title: h.lastError || "" }, text);
  }

  function renderProviders() {
    const body = clear($("#providers"));
    for (const p of state.view.providers) {
      const keys = p.keys.map((k) => k.source === "client" ? el("span", { class: "muted" }, t("clientKey"))
        : el("span", { class: "badge " + (k.set ? "state-success" : "state-error"), title: k.label || "" }, `${k.env}${k.set ? "" : " ✗"}`));
      const targets = Object.keys(state.view.health.targets).filter((l) => l === p.name || l.startsWith(p.name + "/"));
      const benched = state.view.health.benchedKeys.filter((b) => b.provider === p.name)
        .map((b) => el("span", { class: "badge state-timeout" }, t("keyBenched", { key: b.key, reason: b.reason, s: Math.round(b.backInS) })));
      const result = el("span", { class: "small", role: "status" });
      const test = el("button", { type: "button", class: "small test-provider" }, t("testProvider"));
      test.addEventListener("click", () => testProvider(p.name, result));
      body.append(el("tr", { class: "provider-row", dataset: { provider: p.name } },
        el("th", {}, p.name, p.seed ? el("div", { class: "muted small" }, t("seedProvider")) : null),
        el("td", {}, p.kind), el("td", { class: "mono" }, p.baseUrl), el("td", {}, keys, benched),
        el("td", {}, targets.length ? targets.map((l) => el("div", {}, l, " ", healthBadge(l))) : healthBadge(p.name)),
        el("td", {}, test, " ", result)));
    }
  }

  async function testProvider(name, box) {
    box.textContent = "…";
    try {
      const r = await UI.api(`/api/config/providers/${encodeURIComponent(name)}/test`, { method: "POST" });
      box.textContent = r.ok ? `✓ ${r.note} (${r.ms} ms)` : `✗ ${r.error || r.note}`;
      box.className = "small " + (r.ok ? "ok" : "warning");
    } catch (error) {
      box.textContent = "✗ " + error.message;
    }
  }

  function select(options, value, onChange) {
    const s = el("select", {}, options.map(([v, label]) => el("option", { value: v }, label)));
    s.value = value;
    s.addEventListener("change", () => onChange(s.value));
    return s;
  }

  const TRI = () => [["", t("any")], ["true", t("yes")], ["false", t("no")]];
  const tri = (v) => (v === true ? "true" : v === false ? "false" : "");
  const fromTri = (v) => (v === "" ? undefined : v === "true");

  function setMatch(route, key, value) {
    route.match = { ...(route.match || {}) };
    if (value === undefined || value === "" || (Array.isArray(value) && !value.length)) delete route.match[key];
    else route.match[key] = value;
  }

  function routeCard(route, index) {
    const m = route.match || {};
    const card = el("li", { class: "route-card", draggable: "true", dataset: { index } });
    const name = el("input", { type: "text", class: "route-name", value: route.name || "", "aria-label": t("routeName") });
    name.addEventListener("input", () => { route.name = name.value; });
    const models = el("input", { type: "text", class: "route-models", value: (m.model || []).join(", "), placeholder: "sonnet, claude-opus-*", "aria-label": t("routeModels") });
    models.addEventListener("input", () => setMatch(route, "model", models.value.split(",").map((x) => x.trim()).filter(Boolean)));
    const tokens = el("input", { type: "number", min: "0", class: "route-tokens", value: m.minInputTokens ?? "", "aria-label": t("minInputTokens") });
    tokens.addEventListener("input", () => setMatch(route, "minInputTokens", tokens.value === "" ? undefined : Number(tokens.value)));
    const move = (delta) => { const to = index + delta; if (to >= 0 && to < state.routes.length) { reorder(index, to); } };
    const up = el("button", { type: "button", class: "small", "aria-label": t("moveUp") }, "↑");
    const down = el("button", { type: "button", class: "small", "aria-label": t("moveDown") }, "↓");
    const remove = el("button", { type: "button", class: "small danger" }, t("removeRoute"));
    up.addEventListener("click", () => move(-1));
    down.addEventListener("click", () => move(1));
    remove.addEventListener("click", () => { state.routes.splice(index, 1); renderRoutes(); });
    card.append(
      el("div", { class: "route-head" }, el("span", { class: "handle", "aria-hidden": "true" }, "⠿"), name, up, down, remove),
      el("div", { class: "route-match" },
        el("label", {}, t("routeModels"), models),
        el("label", {}, t("agent"), select([["", t("any")], ["main", t("mainThread")], ["subagent", t("subagent")]], m.agent || "", (v) => setMatch(route, "agent", v || undefined))),
        el("label", {}, t("thinking"), select(TRI(), tri(m.thinking), (v) => setMatch(route, "thinking", fromTri(v)))),
        el("label", {}, t("tools"), select(TRI(), tri(m.tools), (v) => setMatch(route, "tools", fromTri(v)))),
        el("label", {}, t("minInputTokens"), tokens)),
      targetList(route));
    card.addEventListener("dragstart", (e) => { state.dragging = index; e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", String(index)); });
    card.addEventListener("dragover", (e) => { e.preventDefault(); card.classList.add("drag-over"); });
    card.addEventListener("dragleave", () => card.classList.remove("drag-over"));
    card.addEventListener("drop", (e) => {
      e.preventDefault();
      const from = state.dragging ?? Number(e.dataTransfer.getData("text/plain"));
      state.dragging = null;
      if (Number.isInteger(from) && from !== index) reorder(from, index);
    });
    return card;
  }

  function targetList(route) {
    const names = state.view.providers.map((p) => [p.name, `${p.name} (${p.kind})`]);
    const list = el("ol", { class: "targets" });
    route.targets.forEach((target, i) => {
      const model = el("input", { type: "text", class: "target-model", value: target.model || "", placeholder: t("keepModel"), "aria-label": t("model") });
      model.addEventListener("input", () => { if (model.value.trim()) target.model = model.value.trim(); else delete target.model; });
      const drop = el("button", { type: "button", class: "small" }, "✕");
      drop.addEventListener("click", () => { route.targets.splice(i, 1); renderRoutes(); });
      const label = target.model ? `${target.provider}/${target.model}` : target.provider;
      list.append(el("li", { class: "target" },
        select(names, target.provider, (v) => { target.provider = v; }), model, healthBadge(label), drop));
    });
    const add = el("button", { type: "button", class: "small add-target" }, t("addTarget"));
    add.addEventListener("click", () => { route.targets.push({ provider: state.view.providers[0].name }); renderRoutes(); });
    return el("div", {}, el("div", { class: "muted small" }, t("targetsInOrder")), list, add);
  }

  function reorder(from, to) {
    const [moved] = state.routes.splice(from, 1);
    state.routes.splice(to, 0, moved);
    renderRoutes();
  }

  function renderRoutes() {
    const list = clear($("#routes"));
    state.routes.forEach((r, i) => list.append(routeCard(r, i)));
  }

  async function save() {
    const box = $("#routes-result");
    box.textContent = "";
    try {
      await UI.api("/api/config", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ routes: state.routes }) });
      box.textContent = t("routesSaved");
      await load();
    } catch (error) {
      box.textContent = error.message;
      box.className = "warning";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#add-route").addEventListener("click", () => {
      state.routes.push({ name: "", match: {}, targets: [{ provider: state.view.providers[0].name }] });
      renderRoutes();
    });
    $("#save-routes").addEventListener("click", save);
    $("#refresh-routing").addEventListener("click", load);
    document.addEventListener("i18nchange", () => state.view && render());
    load();
  });
})();
