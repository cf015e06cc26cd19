// The /config page: the UI of /api/config. Mode cards, backend and model mapping with a
// searchable model list (context, prices), key test, self-test, save / reset / reload.
// Fields that need a restart are shown read-only with the flag or variable that sets them.
"use strict";

(() => {
  const { t, el, clear, $, num } = UI;
  const FAMILIES = ["sonnet", "opus", "haiku"];
  const state = { config: null, mode: "anthropic", models: [] };

  function fill(config) {
    state.config = config;
    state.mode = config.proxyMode;
    const router = config.openrouter;
    $("#baseUrl").value = router.baseUrl || "";
    const locked = !(config.destinations && config.destinations.editable);
    $("#baseUrl").readOnly = locked;
    $("#baseUrl-locked").hidden = !locked;
    $("#defaultModel").value = router.defaultModel || "";
    for (const f of FAMILIES) $("#map-" + f).value = (router.modelMapping || {})[f] || "";
    $("#httpReferer").value = config.headers.httpReferer || "";
    $("#title").value = config.headers.title || "";
    $("#rules-count").textContent = t("rulesCount", { n: (router.modelRules || []).length });
    keyStatus(router);
    readOnly(config);
    renderModes();
    clearFieldErrors();
  }

  function keyStatus(router) {
    const box = clear($("#key-status"));
    box.append(el("span", { class: "badge " + (router.apiKeyConfigured ? "state-success" : "state-error") },
      router.apiKeyConfigured ? t("keyConfigured") : t("keyMissing")));
    if (router.apiKeyConfigured && !router.apiKeySentToBaseUrl) box.append(" ", el("span", { class: "badge state-timeout" }, t("keyNotSent")));
  }

  function readOnly(config) {
    const rows = [
      ["server.host", config.server.host, "--host / HOST"], ["server.port", config.server.port, "--port / PORT"],
      ["server.logLevel", config.server.logLevel, "--log-level / LOG_LEVEL"],
      ["anthropic.baseUrl", config.anthropic.baseUrl, "--upstream / ANTHROPIC_UPSTREAM_URL"],
      ["anthropic.timeout", config.anthropic.timeout, "--request-timeout / REQUEST_TIMEOUT"],
      ["monitoring.maxRequests", config.monitoring.maxRequests, "--max-records / MAX_RECORDS"],
      ["monitoring.retentionSeconds", config.monitoring.retentionSeconds, "--max-age / MAX_AGE"],
    ];
    clear($("#readonly")).append(...rows.map(([name, value, how]) =>
      el("tr", {}, el("th", {}, name), el("td", {}, String(value)), el("td", { class: "muted" }, how), el("td", {}, el("span", { class: "badge" }, t("needsRestart"))))));
  }

  function renderModes() {
    for (const card of document.querySelectorAll("[data-mode]")) {
      card.setAttribute("aria-pressed", String(card.dataset.mode === state.mode));
    }
    $("#openrouter-settings").classList.toggle("dimmed", state.mode !== "openrouter");
    $("#unsaved").hidden = !state.config || state.mode === state.config.proxyMode;
  }

  function patch() {
    const mapping = {};
    for (const f of FAMILIES) mapping[f] = $("#map-" + f).value.trim();
    const openrouter = { defaultModel: $("#defaultModel").value.trim(), modelMapping: mapping };
    if (!$("#baseUrl").readOnly) openrouter.baseUrl = $("#baseUrl").value.trim();
    return {
      proxyMode: state.mode,
      openrouter,
      headers: { httpReferer: $("#httpReferer").value.trim(), title: $("#title").value.trim() },
    };
  }

  // The editable part of the config as a file: no key (none is ever stored), no read-only facts.
  function exportConfig() {
    const c = state.config;
    const { baseUrl, defaultModel, modelMapping, modelRules } = c.openrouter;
    const file = { proxyMode: c.proxyMode, openrouter: { baseUrl, defaultModel, modelMapping, modelRules }, headers: c.headers };
    UI.download(JSON.stringify(file, null, 2) + "\n", "anthropic-proxy-config.json", "application/json");
  }

  // An exported (or the original's) file: editable keys only; a base URL this page may not
  // change is left out, and the user is told so.
  async function importConfig(event) {
    const input = event.target;
    const [file] = input.files;
    input.value = "";
    if (!file) return;
    let data;
    try { data = JSON.parse(await file.text()); } catch (error) { UI.toast(t("importNotJson"), "error"); return; }
    if (!data || typeof data !== "object" || Array.isArray(data)) { UI.toast(t("importNotJson"), "error"); return; }
    const body = {};
    for (const key of ["proxyMode", "headers"]) if (key in data) body[key] = data[key];
    if (data.openrouter && typeof data.openrouter === "object") {
      const { apiKey, apiKeyConfigured, apiKeySentToBaseUrl, ...router } = data.openrouter;
      if ($("#baseUrl").readOnly && router.baseUrl !== undefined && router.baseUrl !== state.config.openrouter.baseUrl) {
        delete router.baseUrl;
        UI.toast(t("importSkippedBaseUrl"), "warn");
      }
      body.openrouter = router;
    }
    await act(UI.api("/api/config", { method: "POST", body: JSON.stringify(body) }), t("imported"));
  }

  function clearFieldErrors() {
    for (const node of document.querySelectorAll(".field-error")) node.remove();
    for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  function showFieldErrors(fields) {
    for (const [name, message] of Object.entries(fields || {})) {
      const input = document.querySelector(`[data-field="${CSS.escape(name)}"]`);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      input.after(el("div", { class: "field-error" }, message));
    }
  }

  async function act(promise, okMessage) {
    clearFieldErrors();
    try {
      const result = await promise;
      fill(result.config || result);
      UI.toast(okMessage, "ok");
    } catch (error) {
      showFieldErrors(error.fields);
      UI.toast(error.message, "error");
    }
  }

  const save = () => act(UI.api("/api/config", { method: "POST", body: JSON.stringify(patch()) }), t("saved"));
  const reload = () => act(UI.api("/api/config/reload", { method: "POST" }), t("reloaded"));
  async function reset() {
    if (await UI.confirmDialog(t("confirmReset"), t("reset"))) act(UI.api("/api/config/reset", { method: "POST" }), t("resetDone"));
  }

  async function testKey() {
    const box = clear($("#key-result"));
    box.append(el("span", { class: "muted" }, t("testing")));
    try {
      const r = await UI.api("/api/config/test-openrouter", { method: "POST", body: JSON.stringify({ apiKey: $("#apiKey").value }) });
      clear(box).append(el("span", { class: "badge " + (r.valid ? "state-success" : "state-error") }, r.valid ? t("keyValid") : t("keyInvalid")),
        " ", r.label ? `${r.label} · ` : "", r.usage !== undefined && r.usage !== null ? t("keyUsage", { usage: r.usage, limit: r.limit ?? "∞" }) : "", r.error ? " " + r.error : "");
    } catch (error) {
      clear(box).append(el("span", { class: "error" }, error.message));
    }
  }

  async function selfTest() {
    const box = clear($("#selftest-result"));
    box.append(el("p", { class: "muted" }, t("selfTestRunning")));
    $("#selftest").disabled = true;
    try {
      const r = await UI.api("/api/config/self-test", { method: "POST" });
      clear(box).append(el("p", { class: "muted" }, `${r.baseUrl} · ${num(r.duration_ms)} ms`), ...r.models.map(modelReport));
    } catch (error) {
      clear(box).append(el("p", { class: "error" }, error.message));
    } finally {
      $("#selftest").disabled = false;
    }
  }

  function modelReport(m) {
    return el("details", { class: "selftest-model" }, el("summary", {}, el("strong", {}, m.model), " ", el("code", {}, m.capabilities)),
      el("table", { class: "kv" }, el("tbody", {}, Object.entries(m.checks).map(([name, result]) =>
        el("tr", {}, el("th", {}, name), el("td", { class: result.startsWith("ok") ? "ok" : "error" }, result))))));
  }

  async function loadModels() {
    const box = clear($("#model-list"));
    box.append(el("p", { class: "muted" }, t("loading")));
    try {
      const data = await UI.api("/api/config/models");
      state.models = data.data;
      const list = clear($("#model-options"));
      for (const m of state.models) list.append(el("option", { value: m.id }));
      renderModels();
    } catch (error) {
      clear(box).append(el("p", { class: "error" }, error.message));
    }
  }

  function perMillion(value) {
    const n = parseFloat(value);
    return Number.isFinite(n) ? "$" + (n * 1e6).toFixed(2) : "–";
  }

  function renderModels() {
    const q = $("#model-search").value.trim().toLowerCase();
    const found = state.models.filter((m) => !q || `${m.id} ${m.name || ""}`.toLowerCase().includes(q)).slice(0, 100);
    const use = (id, target) => el("button", { type: "button", class: "small", onclick: () => { $(target).value = id; UI.toast(t("picked", { model: id }), "ok"); } }, t("use_" + target.slice(1).replace("map-", "")));
    clear($("#model-list")).append(
      el("p", { class: "muted" }, t("modelsShown", { n: found.length, total: state.models.length })),
      el("table", { class: "grid-table" },
        el("thead", {}, el("tr", {}, ["model", "context", "priceIn", "priceOut", "use"].map((h) => el("th", {}, t(h))))),
        el("tbody", {}, found.map((m) => el("tr", {}, el("td", {}, el("code", {}, m.id), m.name ? el("div", { class: "muted small" }, m.name) : null),
          el("td", { class: "num" }, num(m.context_length)), el("td", { class: "num" }, perMillion(m.pricing?.prompt)),
          el("td", { class: "num" }, perMillion(m.pricing?.completion)),
          el("td", { class: "use" }, ...["#map-sonnet", "#map-opus", "#map-haiku", "#defaultModel"].map((target) => use(m.id, target))))))));
  }

  function bind() {
    for (const card of document.querySelectorAll("[data-mode]")) {
      card.addEventListener("click", () => { state.mode = card.dataset.mode; renderModes(); });
    }
    $("#config-form").addEventListener("submit", (e) => { e.preventDefault(); save(); });
    $("#reload").addEventListener("click", reload);
    $("#reset").addEventListener("click", reset);
    $("#export-config").addEventListener("click", exportConfig);
    $("#import-config").addEventListener("change", importConfig);
    $("#test-key").addEventListener("click", testKey);
    $("#selftest").addEventListener("click", selfTest);
    $("#load-models").addEventListener("click", loadModels);
    $("#model-search").addEventListener("input", () => { if (state.models.length) renderModels(); });
    // Re-render translated texts only: a full fill() would drop unsaved edits.
    document.addEventListener("i18nchange", () => {
      if (state.config) { keyStatus(state.config.openrouter); readOnly(state.config); }
      if (state.models.length) renderModels();
    });
  }

  document.addEventListener("DOMContentLoaded", async () => {
    UI.initTheme();
    I18N.init();
    bind();
    try {
      fill(await UI.api("/api/config"));
    } catch (error) {
      UI.toast(error.message, "error");
    }
  });
})();
