// The Sessions and Analysis views of /monitor, and switching between the page's views.
// Sessions: Claude Code sessions, each as a tree of agents (tokens and cost per node), and
// the prompt-cache diagnostics per turn (hit ratio, what broke the cache, what the miss cost).
"use strict";

(() => {
  const { t, el, clear, $, num, usd, ratio, tokens, time, datetime } = UI;
  let view = "requests";

  function showView(name) {
    view = name;
    for (const button of document.querySelectorAll("[data-view]")) button.setAttribute("aria-selected", String(button.dataset.view === name));
    for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
    loadView();
  }

  function loadView() {
    const p = window.Monitor.params();
    if (view === "sessions") loadSessions(p);
    else if (view === "analysis") Analyze.load($("#analysis"), "?" + p.toString());
  }

  async function loadSessions(p) {
    const box = clear($("#session-list"));
    try {
      const data = await UI.api("/api/monitor/sessions?" + p.toString());
      if (!data.data.length) { box.append(el("p", { class: "muted" }, t("noSessions"))); return; }
      box.append(el("table", { class: "grid-table" },
        el("thead", {}, el("tr", {}, ["session", "last", "count", "agents", "tokensInOut", "cacheHit", "cost"].map((c) => el("th", {}, t(c))))),
        el("tbody", {}, data.data.map(sessionRow))));
    } catch (error) {
      box.append(el("p", { class: "error" }, error.message));
    }
  }

  function sessionRow(s) {
    const tr = el("tr", { tabindex: 0 },
      el("td", { class: "session-title" }, s.title ? [el("span", { title: s.session_id }, s.title), el("div", { class: "muted small" }, el("code", {}, s.session_id))] : el("code", {}, s.session_id)),
      el("td", {}, UI.when(s.last)), el("td", { class: "num" }, num(s.count)),
      el("td", { class: "num" }, num(s.agents)), el("td", { class: "num" }, `${tokens(s.input_tokens)} / ${tokens(s.output_tokens)}`),
      el("td", { class: "num" }, ratio(s.cache_hit_ratio)), el("td", { class: "num" }, usd(s.cost_usd)));
    const open = () => loadSession(s.session_id, s.title);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); open(); } });
    return tr;
  }

  async function loadSession(id, title) {
    const box = clear($("#session-detail"));
    box.append(el("h3", {}, title || t("session")), el("p", { class: "muted small" }, t("session"), " ", el("code", {}, id)));
    try {
      const report = await UI.api("/api/monitor/sessions/" + encodeURIComponent(id));
      box.append(el("h4", {}, t("agentTree")), el("ul", { class: "tree" }, node(report.tree)), cache(report.cache));
      if (window.Usage) box.append(window.Usage.sessionContext(id));
      box.scrollIntoView({ block: "start" });
    } catch (error) {
      box.append(el("p", { class: "error" }, error.message));
    }
  }

  function node(n) {
    const own = n.own, total = n.total;
    const label = n.agent_id === "main" ? t("mainAgent") : n.agent_id;
    const summary = el("summary", {}, el("strong", {}, label), " ",
      el("span", { class: "muted" }, t("nodeTotals", { n: num(total.count), input: tokens(total.input_tokens), output: tokens(total.output_tokens), cost: usd(total.cost_usd) })),
      n.children.length ? el("span", { class: "muted" }, " · " + t("ownCost", { cost: usd(own.cost_usd) })) : null);
    const exchanges = el("ul", { class: "tree-exchanges" }, n.exchanges.slice(-50).map((x) => {
      const link = el("a", { href: "#" + encodeURIComponent(x.id) }, `${time(x.started_at)} ${x.model || x.path}`);
      link.addEventListener("click", (e) => { e.preventDefault(); window.Monitor.openDetail(x.id); });
      return el("li", {}, link, " ", el("span", { class: "badge state-" + x.state }, t("state_" + x.state)), " ", usd(x.cost_usd));
    }));
    return el("li", {}, el("details", { open: true }, summary, exchanges, n.children.length ? el("ul", { class: "tree" }, n.children.map(node)) : null));
  }

  function cache(c) {
    const s = c.summary;
    const reasons = Object.entries(s.reasons).map(([k, v]) => `${t("reason_" + k)} × ${v}`).join(", ");
    return el("div", { class: "cache-diag" },
      el("h4", {}, t("cacheDiagnostics")),
      el("p", {}, t("cacheSummary", { turns: s.turns, breaks: s.breaks, hit: ratio(s.hit_ratio), lost: tokens(s.lost_tokens), cost: usd(s.lost_usd) })),
      reasons ? el("p", {}, t("breakReasons"), ": ", reasons) : null,
      Object.keys(s.upstream_reasons || {}).length ? el("p", { class: "upstream-reasons" }, t("upstreamReasons", {
        reasons: Object.entries(s.upstream_reasons).map(([k, v]) => `${k} × ${v}`).join(", "),
        tokens: tokens(s.upstream_missed_tokens), cost: usd(s.upstream_missed_usd) })) : null,
      el("table", { class: "grid-table" },
        el("thead", {}, el("tr", {}, ["time", "agent", "model", "cacheHit", "cacheReadWrite", "broken", "lostCost", "upstreamDiagnosis"].map((h) => el("th", {}, t(h))))),
        el("tbody", {}, c.turns.map(turnRow))));
  }

  function turnRow(x) {
    const bar = el("span", { class: "ratio-fill" });
    bar.style.width = (100 * x.hit_ratio).toFixed(0) + "%";
    return el("tr", { class: x.broken ? "broken" : "" },
      el("td", {}, time(x.started_at)), el("td", {}, x.agent_id === "main" ? t("mainAgent") : x.agent_id), el("td", {}, x.model || "–"),
      el("td", {}, el("span", { class: "ratio-track" }, bar), " ", ratio(x.hit_ratio)),
      el("td", { class: "num" }, `${tokens(x.cache_read_tokens)} / ${tokens(x.cache_creation_tokens)}`),
      el("td", {}, x.broken ? x.reasons.map((r) => t("reason_" + r)).join(", ") : ""),
      el("td", { class: "num" }, x.broken ? usd(x.lost_usd) : ""),
      el("td", { class: "upstream-diagnosis" }, x.upstream_reason
        ? `${x.upstream_reason} · ${tokens(x.upstream_missed_tokens || 0)} · ${usd(x.upstream_missed_usd)}` : ""));
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("[data-view]")) button.addEventListener("click", () => showView(button.dataset.view));
    document.addEventListener("filterschange", () => { if (view !== "requests") loadView(); });
    document.addEventListener("i18nchange", () => { if (view !== "requests") loadView(); });
  });
})();
