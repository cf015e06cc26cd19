// Usage insight on /monitor: quota gauges and budget progress above the stats (with a banner
// when a budget is crossed), and the Usage view: daily / weekly / monthly / 5-hour blocks /
// session / project / tag reports over the page's filters, optionally by model.
"use strict";

(() => {
  const { t, el, clear, $, num, usd, tokens, datetime } = UI;
  const REFRESH_MS = 15000;
  const REPORTS = ["daily", "weekly", "monthly", "blocks", "session", "project", "tag"];
  const COLUMNS = [
    ["requests", "count", num], ["input_tokens", "input", tokens], ["output_tokens", "output", tokens],
    ["cache_creation_tokens", "cacheWrite", tokens], ["cache_read_tokens", "cacheRead", tokens],
    ["total_tokens", "totalTokens", tokens], ["cost_usd", "cost", usd],
  ];

  function span(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const minutes = Math.max(0, Math.floor(seconds / 60));
    if (minutes >= 1440) return `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h`;
    return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
  }

  function percent(u) {
    return u === null || u === undefined ? "–" : `${Math.round(u * 1000) / 10}%`;
  }

  // ---- quota gauges and budgets ---------------------------------------------------------
  async function loadGauges() {
    const [quota, budget] = await Promise.all([
      UI.api("/api/monitor/quota").catch(() => null),
      UI.api("/api/monitor/budget").catch(() => null),
    ]);
    renderQuota(quota);
    renderBudgets(budget);
  }

  function renderQuota(data) {
    const box = $("#quota");
    if (!box) return;
    clear(box);
    const windows = (data && data.windows) || [];
    box.hidden = !windows.length;
    for (const w of windows) box.append(gauge(w, data.now));
  }

  function gauge(w, now) {
    const level = w.utilization >= 0.9 ? "high" : w.utilization >= 0.7 ? "warn" : "ok";
    const lines = [];
    if (w.resets_at) lines.push(t("resetsIn", { span: span(w.resets_at - now) }));
    const f = w.forecast;
    if (f && f.runs_out_at && f.before_reset) lines.push(t("runsOutAt", { time: datetime(f.runs_out_at) }));
    else if (f && f.rate_per_hour !== null && f.rate_per_hour !== undefined) lines.push(t("lastsToReset"));
    const shares = w.shares ? w.shares.sessions.slice(0, 3).map((s) => `${(s.session_id || "–").slice(0, 12)} ${percent(s.share)}`) : [];
    const [byProject, legend] = projectShares(w);
    return el("div", { class: `gauge level-${level}`, dataset: { window: w.window } },
      el("div", { class: "gauge-head" }, el("strong", {}, w.window), w.status ? el("span", { class: "badge" }, w.status) : null),
      el("meter", { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: w.utilization ?? 0, "aria-label": w.window }),
      byProject,
      el("div", { class: "gauge-value" }, percent(w.utilization),
        w.limit ? el("span", { class: "muted small" }, ` ${num(w.remaining)} / ${num(w.limit)} ${t("left")}`) : null),
      legend,
      ...lines.map((line) => el("div", { class: "muted small" }, line)),
      shares.length ? el("div", { class: "muted small shares", title: t("sharesHint") }, t("usedBy") + " " + shares.join(" · ")) : null);
  }

  const SHARE_COLORS = ["#6a9fd8", "#f4a259", "#7fbf7b", "#b5838d", "#e9c46a", "#2a9d8f", "#8c6bb1", "#e76f51", "#a0522d", "#5c7cfa"];

  // Under the meter, on the same scale: the part of the window's utilization each project
  // caused (its share of the change since the window began, apportioned by tokens), then the
  // rest (before the first reading, projects past the top ten, no tokens between readings).
  function projectShares(w) {
    const projects = (w.shares && w.shares.projects) || [];
    if (!projects.length || !w.utilization) return [null, null];
    const bar = el("div", { class: "quota-shares", role: "img", "aria-label": t("projectShares") });
    const legend = el("div", { class: "quota-legend", title: t("projectSharesHint") });
    let drawn = 0;
    projects.forEach((p, i) => {
      const color = SHARE_COLORS[i % SHARE_COLORS.length];
      const name = p.project || t("none");
      const width = Math.max(0, Math.min(p.utilization, 1 - drawn));
      drawn += width;
      const piece = el("span", { title: `${name}: ${percent(p.utilization)} · ${percent(p.share)}`, dataset: { project: p.project ?? "", share: p.share, utilization: p.utilization } });
      piece.style.width = (100 * width).toFixed(3) + "%";
      piece.style.background = color;
      bar.append(piece);
      const swatch = el("i");
      swatch.style.background = color;
      legend.append(el("span", { title: name, dataset: { project: p.project ?? "" } }, swatch, `${name.split("/").filter(Boolean).pop() || name} ${percent(p.share)}`));
    });
    const rest = Math.min(1, w.utilization) - drawn;
    if (rest > 0.0005) {
      const other = el("span", { class: "rest", title: `${t("otherShare")}: ${percent(rest)}` });
      other.style.width = (100 * rest).toFixed(3) + "%";
      bar.append(other);
    }
    return [bar, legend];
  }

  function renderBudgets(data) {
    const box = $("#budgets");
    const banner = $("#budget-banner");
    if (!box || !banner) return;
    clear(box);
    clear(banner);
    const crossed = [];
    for (const period of ["daily", "monthly"]) {
      const line = data && data.proxy && data.proxy[period];
      if (!line || !line.limitUsd) continue;
      box.append(el("div", { class: "budget", dataset: { period } },
        el("span", {}, t("budget_" + period)),
        el("progress", { max: line.limitUsd, value: Math.min(line.spentUsd, line.limitUsd) }),
        el("span", { class: "num" }, `${usd(line.spentUsd)} / ${usd(line.limitUsd)} (${Math.round(line.percent)}%)`)));
      if (line.exceeded) crossed.push(t("budgetCrossed", { period: t("budget_" + period), spent: usd(line.spentUsd), limit: usd(line.limitUsd) }));
      const sessions = data.sessions && data.sessions[period];
      for (const s of (sessions && sessions.top) || []) {
        if (s.exceeded) crossed.push(t("sessionBudgetCrossed", { period: t("budget_" + period), session: s.id, spent: usd(s.spentUsd), limit: usd(sessions.limitUsd) }));
      }
    }
    box.hidden = !box.childElementCount;
    banner.hidden = !crossed.length;
    for (const text of crossed) banner.append(el("div", {}, text));
  }

  // ---- the Usage view ---------------------------------------------------------------
  let kind = "daily";
  let byModel = false;

  function controls() {
    const select = el("select", { id: "usage-report", "aria-label": t("usageReport") },
      REPORTS.map((r) => el("option", { value: r, selected: r === kind }, t("report_" + r))));
    select.addEventListener("change", () => { kind = select.value; loadUsage(); });
    const check = el("input", { id: "usage-by-model", type: "checkbox", checked: byModel });
    check.addEventListener("change", () => { byModel = check.checked; loadUsage(); });
    return el("div", { class: "usage-controls" },
      el("label", {}, el("span", {}, t("usageReport")), select),
      el("label", {}, check, el("span", {}, t("byModel"))));
  }

  let generation = 0;

  async function loadUsage() {
    const box = $("#usage");
    if (!box || box.closest("[data-panel]").hidden) return;
    const mine = ++generation;  // a newer load (filters, report, by model) supersedes this one
    const p = window.Monitor.params();
    p.set("report", kind);
    if (byModel) p.set("by", "model");
    p.set("tzOffset", String(new Date().getTimezoneOffset()));
    for (const name of ["status", "provider", "kind", "q"]) p.delete(name);
    const out = el("div", {}, controls());
    try {
      out.append(usageTable(await UI.api("/api/monitor/usage?" + p.toString())));
    } catch (error) {
      out.append(el("p", { class: "error" }, error.message));
    }
    await anatomyTables(out, p);
    if (mine === generation) clear(box).append(out);
  }

  function usageTable(data) {
    const reported = data.rows.some((r) => r.reported_cost_usd);
    const columns = reported
      ? [...COLUMNS, ["calculated_cost_usd", "genaiPrices", usd], ["reported_cost_usd", "upstreamCost", usd]]
      : COLUMNS;
    const cells = (r) => columns.map(([c, , fmt]) => el("td", { class: "num", dataset: { col: c } }, fmt(r[c])));
    const body = [];
    for (const r of data.rows) {
      body.push(el("tr", { dataset: { key: r.key ?? "" } },
        el("th", { scope: "row" }, keyLabel(r)), el("td", { class: "small" }, r.models.join(", ")), ...cells(r)));
      for (const m of r.by_model || []) {
        body.push(el("tr", { class: "sub", dataset: { model: m.model ?? "" } }, el("td", {}, "└ " + (m.model || "–")), el("td", {}), ...cells(m)));
      }
    }
    if (!data.rows.length) body.push(el("tr", {}, el("td", { colspan: columns.length + 2, class: "muted" }, t("noUsage"))));
    return el("table", { class: "grid-table usage-table", id: "usage-table" },
      el("thead", {}, el("tr", {}, el("th", {}, t("report_" + data.report)), el("th", {}, t("models")),
        ...columns.map(([, label]) => el("th", { class: "num" }, t(label))))),
      el("tbody", {}, body),
      el("tfoot", {}, el("tr", { class: "total" }, el("th", { scope: "row" }, t("total")), el("td", {}), ...cells(data.totals))));
  }

  function keyLabel(r) {
    if (r.key === null || r.key === undefined) return t("none");
    if (kind === "blocks" && r.active) return `${r.key} (${t("activeBlock", { span: span(r.remaining_s) })})`;
    if (kind === "session" && r.project) return `${r.key} · ${r.project}`;
    return String(r.key);
  }

  // ---- context anatomy --------------------------------------------------------------
  const GROUP_COLORS = {
    system: "#8c6bb1", tools: "#6a9fd8", user_text: "#7fbf7b", assistant_text: "#f4a259",
    tool_calls: "#e9c46a", tool_results: "#2a9d8f", thinking: "#b5838d", images: "#e76f51",
    documents: "#a0522d", other: "#999999",
  };

  function colorOf(key) {
    const group = key.startsWith("tools:") ? "tools" : key.startsWith("tool_results") ? "tool_results" : key;
    return GROUP_COLORS[group] || GROUP_COLORS.other;
  }

  function categoryLabel(key) {
    const [head, ...rest] = key.split(":");
    const base = t("cat_" + head);
    return rest.length ? `${base}: ${rest.join(":")}` : base;
  }

  // One stacked bar of an exchange's input, by category (adds up to the reported input tokens).
  function anatomyBar(a) {
    const total = a.categories.reduce((sum, c) => sum + c.tokens, 0);
    if (!total) return null;
    const bar = el("div", { class: "anatomy-bar", role: "img", "aria-label": t("contextAnatomy") });
    const legend = el("div", { class: "anatomy-legend" });
    for (const c of a.categories) {
      const share = c.tokens / total;
      const piece = el("span", { title: `${categoryLabel(c.key)}: ${num(c.tokens)} (${percent(share)})`, dataset: { category: c.key, tokens: c.tokens } });
      piece.style.width = (100 * share).toFixed(3) + "%";
      piece.style.background = colorOf(c.key);
      bar.append(piece);
      const swatch = el("i");
      swatch.style.background = colorOf(c.key);
      legend.append(el("span", {}, swatch, `${categoryLabel(c.key)} ${tokens(c.tokens)}`, c.cost_usd ? ` · ${usd(c.cost_usd)}` : ""));
    }
    return el("section", { class: "anatomy", dataset: { total } },
      el("h4", {}, t("contextAnatomy"), " ", el("span", { class: "muted small" }, t("anatomyTotal", { n: num(total) }))), bar, legend);
  }

  // Context growth over the main conversation's turns, categories stacked, compactions marked.
  function sessionContext(id) {
    const box = el("section", { class: "session-context" }, el("h4", {}, t("contextGrowth")));
    UI.api(`/api/monitor/sessions/${encodeURIComponent(id)}/context`).then((data) => box.append(growthChart(data)))
      .catch((error) => box.append(el("p", { class: "muted" }, error.message)));
    return box;
  }

  function growthChart(data) {
    const W = 640, H = 160, turns = data.turns;
    const max = Math.max(1, ...turns.map((x) => x.context_tokens));
    const w = W / Math.max(1, turns.length);
    const chart = UI.svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, class: "growth", role: "img", "aria-label": t("contextGrowth") });
    turns.forEach((x, i) => {
      const height = (H * x.context_tokens) / max;
      const parts = x.categories ? Object.entries(x.categories) : [["other", x.context_tokens]];
      const sum = parts.reduce((s, [, n]) => s + n, 0) || 1;
      let y = H;
      for (const [key, n] of parts) {
        const h = (height * n) / sum;
        y -= h;
        chart.append(UI.svg("rect", { x: i * w + 1, y, width: Math.max(1, w - 2), height: h, fill: x.categories ? colorOf(key) : "var(--muted)" },
          UI.svg("title", {}, `${t("turn")} ${i + 1}: ${categoryLabel(key)} ${num(n)}`)));
      }
      if (x.compaction) {
        chart.append(UI.svg("line", { x1: i * w, x2: i * w, y1: 0, y2: H, class: "compaction", stroke: "var(--err)", "stroke-dasharray": "4 3" }));
        chart.append(UI.svg("text", { x: i * w + 2, y: H + 12, class: "axis" }, t("compacted")));
      }
    });
    return el("div", { dataset: { turns: turns.length, compactions: data.compactions } }, chart,
      el("p", { class: "muted small" }, t("growthSummary", { turns: turns.length, max: num(max), compactions: data.compactions })));
  }

  async function anatomyTables(box, p) {
    const q = new URLSearchParams(p);
    for (const name of ["report", "by", "tzOffset"]) q.delete(name);
    try {
      const data = await UI.api("/api/monitor/anatomy?" + q.toString());
      const table = (title, rows, label) => el("div", {}, el("h4", {}, t(title)), el("table", { class: "grid-table anatomy-table", dataset: { by: title } },
        el("thead", {}, el("tr", {}, el("th", {}, t(label)), el("th", { class: "num" }, t("contextTokens")), el("th", { class: "num" }, t("inputCost")))),
        el("tbody", {}, rows.slice(0, 15).map((r) => el("tr", { dataset: { key: r.key } }, el("td", {}, label === "category" ? categoryLabel(r.key) : r.key),
          el("td", { class: "num" }, tokens(r.tokens)), el("td", { class: "num" }, usd(r.cost_usd)))))));
      box.append(el("h3", {}, t("contextAnatomy")),
        el("p", { class: "muted small anatomy-coverage", dataset: { unanalysable: data.unanalysable } },
          t("anatomyCoverage", { covered: num(data.covered), n: num(data.exchanges), missing: num(data.missing) }),
          data.unanalysable ? " " + t("anatomyUnanalysable", { n: num(data.unanalysable) }) : ""),
        el("div", { class: "two-col" }, table("byCategory", data.by_category, "category"), table("byTool", data.by_tool, "tool")),
        table("byMcpServer", data.by_mcp_server, "mcpServer"));
    } catch (error) {
      box.append(el("p", { class: "error" }, error.message));
    }
  }

  function init() {
    if (!$("#quota")) return;
    loadGauges();
    setInterval(loadGauges, REFRESH_MS);
    for (const tab of document.querySelectorAll('[data-view="usage"]')) tab.addEventListener("click", () => setTimeout(loadUsage));
    document.addEventListener("filterschange", () => { loadUsage(); loadGauges(); });
    document.addEventListener("i18nchange", () => { loadUsage(); loadGauges(); });
  }

  window.Usage = { loadGauges, loadUsage, anatomyBar, sessionContext };
  document.addEventListener("DOMContentLoaded", init);
})();
