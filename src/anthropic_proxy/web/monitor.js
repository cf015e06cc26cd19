// The /monitor page: filters (mirrored in the URL), stats cards and charts, the paginated
// list kept live over SSE (rows are upserted in place, never a full reload), detail dialog,
// exports, clear. Sessions and the analysis view live in sessions.js and analyze.js.
"use strict";

(() => {
  const { t, el, clear, $, num, ms, usd, pct, ratio, tokens, time } = UI;
  const FILTERS = ["status", "model", "provider", "kind", "timeRange", "session", "q", "from", "to"];
  const state = { page: 1, limit: 50, sort: "-started_at", rows: [], total: 0, totalCapped: false, pages: 1, fresh: 0, stats: null, storage: {}, models: new Map(), source: null, selected: -1 };

  function params() {
    const p = new URLSearchParams();
    for (const name of FILTERS) {
      const input = document.getElementById("f-" + name);
      const value = input ? input.value.trim() : new URLSearchParams(location.search).get(name);
      if (value) p.set(name, value);
    }
    return p;
  }

  function readUrl() {
    const p = new URLSearchParams(location.search);
    for (const name of FILTERS) {
      const input = document.getElementById("f-" + name);
      if (input && p.get(name)) {
        if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === p.get(name))) input.append(el("option", { value: p.get(name) }, p.get(name)));
        input.value = p.get(name);
      }
    }
    state.page = Number(p.get("page")) || 1;
  }

  function filtersChanged() {
    state.page = 1;
    const p = params();
    history.replaceState(null, "", "?" + p.toString() + location.hash);
    refresh();
  }

  async function refresh() {
    updateExportLinks();
    connect();
    await Promise.all([loadList(), loadStats()]);
    document.dispatchEvent(new CustomEvent("filterschange", { detail: params() }));
  }

  async function loadList() {
    const p = params();
    p.set("page", state.page);
    p.set("limit", state.limit);
    p.set("sort", state.sort);
    try {
      const data = await UI.api("/api/monitor/requests?" + p.toString());
      Object.assign(state, { rows: data.data, total: data.total, totalCapped: !!data.total_capped, pages: data.pages, fresh: 0 });
      renderTable();
    } catch (error) {
      UI.toast(error.message, "error");
    }
  }

  async function loadStats() {
    try {
      renderStats(await UI.api("/api/monitor/stats?" + params().toString()));
    } catch (error) {
      UI.toast(error.message, "error");
    }
  }

  function stateBadge(row) {
    const label = row.status && row.state !== "pending" ? `${t("state_" + row.state)} ${row.status}` : t("state_" + row.state);
    return el("span", { class: "badge state-" + row.state }, label);
  }

  function rowFor(x, index) {
    const tr = el("tr", { tabindex: 0, dataset: { id: x.id }, class: index === state.selected ? "selected" : "" },
      el("td", { title: UI.datetime(x.started_at), class: "when" }, UI.when(x.started_at)),
      el("td", {}, x.model || x.path, x.upstream_model ? el("div", { class: "muted small" }, "→ " + x.upstream_model) : null),
      el("td", {}, x.provider || x.mode, UI.attempts(x).length ? el("div", { class: "muted small failover", title: UI.servedBy(x) }, UI.servedBy(x)) : null),
      el("td", {}, stateBadge(x)),
      el("td", { class: "num" }, ms(x.duration_ms)), el("td", { class: "num" }, ms(x.ttft_ms)),
      el("td", { class: "num" }, `${tokens(x.input_tokens)} / ${tokens(x.output_tokens)}`),
      el("td", { class: "num" }, tokens(x.cache_read_tokens)), el("td", { class: "num" }, usd(x.cost_usd)),
      el("td", { class: "preview" }, (x.preview || x.error_message || "").slice(0, 160)));
    tr.addEventListener("click", () => openDetail(x.id));
    // preventDefault: otherwise the same Enter would press the dialog's focused Close button.
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); openDetail(x.id); } });
    return tr;
  }

  function renderTable() {
    const body = clear($("#rows"));
    state.rows.forEach((x, i) => body.append(rowFor(x, i)));
    if (!state.rows.length) body.append(el("tr", {}, el("td", { colspan: 10, class: "muted empty" }, t("noRequests"))));
    // A text search counts its matches up to a cap: "1,000+" and more pages than counted.
    const more = state.totalCapped ? "+" : "";
    $("#page-info").textContent = t("pageOf", { page: state.page, pages: num(state.pages) + more, total: num(state.total) + more });
    $("#prev").disabled = state.page <= 1;
    $("#next").disabled = state.totalCapped ? state.rows.length < state.limit : state.page >= state.pages;
    const banner = $("#fresh");
    banner.hidden = !state.fresh;
    banner.textContent = t("newRequests", { n: state.fresh });
  }

  // A live summary: replace the row in place, or put it on top of the first page.
  function upsert(x) {
    const at = state.rows.findIndex((r) => r.id === x.id);
    if (at >= 0) {
      state.rows[at] = x;
      $("#rows").replaceChild(rowFor(x, at), $("#rows").children[at]);
      return;
    }
    if (state.page === 1 && state.sort === "-started_at") {
      state.rows.unshift(x);
      if (state.rows.length > state.limit) state.rows.pop();
      if (!state.totalCapped) {
        state.total += 1;
        state.pages = Math.max(1, Math.ceil(state.total / state.limit));
      }
      if (state.selected >= 0) state.selected += 1;
    } else {
      state.fresh += 1;
    }
    renderTable();
  }

  function card(id, label, value, sub) {
    return el("div", { class: "card", id: "card-" + id }, el("div", { class: "card-label" }, label),
      el("div", { class: "card-value" }, value), sub ? el("div", { class: "card-sub" }, sub) : null);
  }

  function renderStats(s) {
    state.stats = s;
    // Live stats carry the store size only; the limit comes with the page's first stats.
    state.storage = { ...state.storage, ...s.storage };
    const storage = state.storage;
    clear($("#cards")).append(
      card("requests", t("totalRequests"), num(s.totalRequests),
        s.sampled ? t("sampledN", { n: num(s.sampled.newest) }) : t("activeN", { n: s.activeRequests })),
      card("success", t("successRate"), pct(s.successRate), t("errorsN", { n: s.errorCount })),
      card("latency", t("latencyP50"), ms(s.latency.p50), `p95 ${ms(s.latency.p95)} · p99 ${ms(s.latency.p99)}`),
      card("ttft", t("ttftP50"), ms(s.ttft.p50), `p95 ${ms(s.ttft.p95)}`),
      card("tokens", t("tokensInOut"), `${tokens(s.tokens.input)} / ${tokens(s.tokens.output)}`,
        `${t("cacheReadWrite")} ${tokens(s.tokens.cacheRead)} / ${tokens(s.tokens.cacheWrite)}`),
      card("cache", t("cacheHit"), ratio(s.cacheHitRatio)),
      card("cost", t("totalCost"), usd(s.totalCost)),
      ...(storage.bytes === undefined ? [] : [card("storage", t("storageUsed"), UI.bytes(storage.bytes),
        storage.limitBytes ? t("storageLimit", { limit: UI.bytes(storage.limitBytes) }) : t("storageAll"))]));
    renderCharts(s);
    // One option per model; its value lists the exact ids grouped under it (dated and undated).
    for (const m of s.perModel) if (m.key) state.models.set(m.key, (m.ids || [m.key]).join(","));
    const select = $("#f-model");
    const current = select.value;
    for (const [model, ids] of state.models) {
      const option = [...select.options].find((o) => o.textContent === model);
      if (option) option.value = ids;
      else select.append(el("option", { value: ids }, model));
    }
    select.value = current;
  }

  function renderCharts(s) {
    const items = s.buckets.items.map((b) => ({ ...b, ok: b.count - b.errors }));
    Charts.bars($("#chart-requests"), t("requestsOverTime"), items,
      [{ key: "ok", cls: "s-ok", label: t("successful") }, { key: "errors", cls: "s-err", label: t("failed") }], num);
    Charts.line($("#chart-latency"), t("latencyOverTime"), items, "avgDuration", ms);
    Charts.bars($("#chart-tokens"), t("tokensOverTime"), items,
      [{ key: "inputTokens", cls: "s-in", label: t("input") }, { key: "outputTokens", cls: "s-out", label: t("output") },
        { key: "cacheRead", cls: "s-cache", label: t("cacheRead") }], tokens);
    Charts.line($("#chart-cost"), t("costOverTime"), items, "cost", usd);
    Charts.hbars($("#chart-models"), t("requestsPerModel"), s.perModel.map((m) => ({ label: m.key, value: m.count })), num);
    Charts.hbars($("#chart-model-cost"), t("costPerModel"), s.perModel.map((m) => ({ label: m.key, value: m.cost })), usd);
  }

  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource("/api/monitor/stream?" + params().toString());
    state.source = source;
    const live = $("#live");
    source.onopen = () => { live.textContent = t("live"); live.className = "live on"; };
    source.onerror = () => { live.textContent = t("reconnecting"); live.className = "live off"; };
    source.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "request") upsert(message.request);
      else if (message.type === "stats") renderStats(message.stats);
      else if (message.type === "clear" || message.type === "resync") loadList();
    };
  }

  async function openDetail(id) {
    const dialog = $("#detail");
    const body = clear($("#detail-body"));
    body.append(el("p", { class: "muted" }, t("loading")));
    if (!dialog.open) dialog.showModal();
    history.replaceState(null, "", location.search + "#" + encodeURIComponent(id));
    try {
      Detail.render(clear(body), await UI.api("/api/monitor/requests/" + encodeURIComponent(id)));
    } catch (error) {
      clear(body).append(el("p", { class: "error" }, error.message));
    }
  }

  function updateExportLinks() {
    const p = params();
    for (const link of document.querySelectorAll("[data-export]")) {
      p.set("format", link.dataset.export);
      link.href = "/api/monitor/export?" + p.toString();
    }
    p.delete("format");
    $("#analyze-link").href = "/api/monitor/analyze?" + p.toString();
  }

  async function clearAll() {
    if (!(await UI.confirmDialog(t("confirmClear"), t("clearAll")))) return;
    try {
      await UI.api("/api/monitor/clear", { method: "POST" });
      UI.toast(t("cleared"), "ok");
      refresh();
    } catch (error) {
      UI.toast(error.message, "error");
    }
  }

  function moveSelection(delta) {
    const rows = $("#rows").querySelectorAll("tr[data-id]");
    if (!rows.length) return;
    state.selected = Math.min(rows.length - 1, Math.max(0, state.selected + delta));
    rows.forEach((r, i) => r.classList.toggle("selected", i === state.selected));
    rows[state.selected].focus();
  }

  function onKey(e) {
    const typing = /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); $("#f-q").focus(); }
    else if (typing || $("#detail").open) return;
    else if (e.key === "j") moveSelection(1);
    else if (e.key === "k") moveSelection(-1);
    else if (e.key === "r") refresh();
    else if (e.key === "ArrowRight" && !$("#next").disabled) { state.page++; loadList(); }
    else if (e.key === "ArrowLeft" && !$("#prev").disabled) { state.page--; loadList(); }
  }

  function bind() {
    for (const name of FILTERS) {
      const input = document.getElementById("f-" + name);
      if (!input) continue;
      input.addEventListener("change", filtersChanged);
    }
    $(".filters").addEventListener("submit", (e) => { e.preventDefault(); filtersChanged(); });
    $("#prev").addEventListener("click", () => { state.page--; loadList(); });
    $("#next").addEventListener("click", () => { state.page++; loadList(); });
    $("#limit").addEventListener("change", (e) => { state.limit = Number(e.target.value); state.page = 1; loadList(); });
    $("#sort").addEventListener("change", (e) => { state.sort = e.target.value; state.page = 1; loadList(); });
    $("#fresh").addEventListener("click", () => { state.page = 1; loadList(); });
    $("#clear").addEventListener("click", clearAll);
    $("#reset-filters").addEventListener("click", () => { for (const n of FILTERS) { const i = document.getElementById("f-" + n); if (i) i.value = ""; } filtersChanged(); });
    $("#detail").addEventListener("close", () => history.replaceState(null, "", location.search));
    document.addEventListener("keydown", onKey);
    document.addEventListener("i18nchange", () => { renderTable(); if (state.stats) renderStats(state.stats); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    UI.initTheme();
    I18N.init();
    readUrl();
    bind();
    refresh();
    if (location.hash.length > 1) openDetail(decodeURIComponent(location.hash.slice(1)));
  });

  window.Monitor = { params, openDetail };
})();
