// The analysis report view: renders GET /api/monitor/analyze?format=json with text nodes.
// Used by analyze.html (standalone, printable) and by the Analysis tab of /monitor.
"use strict";

const Analyze = (() => {
  const { t, el, clear, num, ms, usd, pct, ratio, tokens, datetime } = UI;

  function card(label, value) {
    return el("div", { class: "card" }, el("div", { class: "card-label" }, label), el("div", { class: "card-value" }, value));
  }

  // columns: [label key, cell(row), numeric?]; numeric columns align right, like the others.
  function table(columns, rows, cls) {
    const cell = (c, row) => el("td", c[2] ? { class: "num" } : {}, c[1](row));
    return el("table", { class: "grid-table" + (cls ? " " + cls : "") },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", c[2] ? { class: "num" } : {}, t(c[0]))))),
      el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => cell(c, row))))));
  }

  // The original's per-request cards: what was asked, what came back, the tools, "view full".
  function requestCard(x) {
    const badge = el("span", { class: "badge state-" + x.state }, [t("state_" + x.state), x.status].filter(Boolean).join(" "));
    return el("article", { class: "request-card" },
      el("header", {}, el("strong", {}, x.model || "–"), " ", badge, " ",
        el("span", { class: "muted" }, `${datetime(x.started_at)} · ${ms(x.duration_ms)} · ${tokens(x.input_tokens)} / ${tokens(x.output_tokens)} · ${usd(x.cost_usd)}`)),
      el("h4", {}, t("userInput")), el("pre", { class: "text" }, x.input || "–"),
      el("h4", {}, t("response")), el("pre", { class: "text" }, x.output || x.error_message || "–"),
      x.tools.length ? el("p", {}, t("toolsUsed"), ": ", x.tools.map((name, i) => [i ? ", " : "", el("code", {}, name)])) : null,
      el("a", { href: "/monitor#" + encodeURIComponent(x.id), class: "view-full" }, t("viewFull")));
  }

  function section(title, ...children) {
    return el("section", { class: "report-section" }, el("h2", {}, t(title)), children);
  }

  function exchangeLink(id) {
    return el("a", { href: "/monitor#" + encodeURIComponent(id) }, id);
  }

  function render(container, r) {
    clear(container);
    const s = r.summary;
    container.append(
      el("p", { class: "muted" }, t("generatedAt", { time: datetime(r.generatedAt) })),
      el("div", { class: "cards" },
        card(t("totalRequests"), num(s.totalRequests)), card(t("successful"), num(s.successCount)),
        card(t("failed"), num(s.errorCount)), card(t("successRate"), pct(s.successRate)),
        card(t("avgDuration"), ms(s.latency.avg)), card("p95", ms(s.latency.p95)),
        card(t("tokensInOut"), `${tokens(s.tokens.input)} / ${tokens(s.tokens.output)}`),
        card(t("cacheHit"), ratio(s.cacheHitRatio)), card(t("totalCost"), usd(s.totalCost))),
      section("requestTypes", table([["type", (x) => x.type], ["count", (x) => num(x.count)], ["percent", (x) => pct(x.percent)]], r.requestTypes)),
      section("perModel", table([
        ["model", (x) => x.key || "–"], ["count", (x) => num(x.count)], ["errors", (x) => num(x.errors)],
        ["avgDuration", (x) => ms(x.avgDuration)], ["tokensInOut", (x) => `${tokens(x.inputTokens)} / ${tokens(x.outputTokens)}`],
        ["cost", (x) => usd(x.cost)]], r.perModel)),
      section("errorsByCause", r.errors.length ? table([
        ["cause", (x) => x.cause], ["state", (x) => [t("state_" + x.state), x.status, x.error_kind].filter(Boolean).join(" · ")],
        ["count", (x) => num(x.count)], ["sample", (x) => el("span", { class: "clip" }, x.sample || "–")],
        ["fix", (x) => x.fix], ["latest", (x) => exchangeLink(x.last_id)]], r.errors) : el("p", { class: "muted" }, t("noErrors"))),
      section("slowest", table([
        ["time", (x) => datetime(x.started_at)], ["model", (x) => x.model || "–"], ["duration", (x) => ms(x.duration_ms)],
        ["ttft", (x) => ms(x.ttft_ms)], ["tokensOut", (x) => num(x.output_tokens)], ["id", (x) => exchangeLink(x.id)]], r.slowest)),
      section("costBreakdown",
        el("p", {}, t("totalCost"), ": ", usd(r.cost.total), r.cost.unpriced ? " · " + t("unpriced", { n: r.cost.unpriced }) : ""),
        el("div", { class: "three-col" },
          ...[["model", r.cost.byModel], ["mode", r.cost.byMode], ["kind", r.cost.byKind]].map(([name, rows]) =>
            table([[name, (x) => x.key || "–"], ["count", (x) => num(x.count), true], ["cost", (x) => usd(x.cost), true]], rows, "breakdown")))),
      section("cacheEfficiency",
        el("p", {}, t("cacheHit"), ": ", ratio(r.cache.hitRatio), " · ", t("cacheReadWrite"), ": ",
          `${tokens(r.cache.cacheRead)} / ${tokens(r.cache.cacheWrite)}`, " · ", t("freshInput"), ": ", tokens(r.cache.input)),
        table([["model", (x) => x.key || "–"], ["cacheHit", (x) => ratio(x.hitRatio)],
          ["cacheReadWrite", (x) => `${tokens(x.cacheRead)} / ${tokens(x.cacheWrite)}`]], r.cache.perModel)),
      section("recentRequests", r.requests && r.requests.length ? el("div", { class: "request-cards" }, r.requests.map(requestCard)) : el("p", { class: "muted" }, t("noRequests"))),
      section("sessions", table([
        ["session", (x) => x.session_id], ["count", (x) => num(x.count)], ["agents", (x) => num(x.agents)],
        ["last", (x) => datetime(x.last)], ["cacheHit", (x) => ratio(x.cache_hit_ratio)], ["cost", (x) => usd(x.cost_usd)]], r.sessions)),
    );
  }

  async function load(container, search) {
    const params = new URLSearchParams(search);
    params.set("format", "json");
    try {
      render(container, await UI.api("/api/monitor/analyze?" + params.toString()));
    } catch (error) {
      clear(container).append(el("p", { class: "error" }, error.message));
    }
  }

  return { render, load };
})();

if (document.body.dataset.page === "analyze") {
  document.addEventListener("DOMContentLoaded", () => {
    UI.initTheme();
    I18N.init();
    Analyze.load(UI.$("#report"), location.search);
    document.addEventListener("languagechange", () => Analyze.load(UI.$("#report"), location.search));
  });
}
