// The detail view of one exchange: overview, conversation, stream waterfall, raw JSON,
// headers and, for translated exchanges, the client request beside the upstream request.
// Recorded content only ever becomes text nodes.
"use strict";

const Detail = (() => {
  const { t, el, svg, clear, num, ms, usd, ratio, datetime, copyButton } = UI;

  function render(container, x) {
    clear(container);
    const tabs = [
      ["overview", () => overview(x)],
      ["conversation", () => conversation(x)],
      ["waterfall", () => waterfall(x)],
      ["requestJson", () => jsonBlock(x.request)],
      ["responseJson", () => jsonBlock(x.response)],
      ["headers", () => headers(x)],
    ];
    if (x.upstream_request) tabs.push(["translation", () => translation(x)]);
    const body = el("div", { class: "tab-body" });
    const bar = el("div", { class: "tabs", role: "tablist" });
    const show = (name, build, button) => {
      for (const b of bar.children) b.setAttribute("aria-selected", String(b === button));
      clear(body).append(build());
    };
    for (const [name, build] of tabs) {
      const button = el("button", { type: "button", role: "tab", dataset: { tab: name } }, t(name));
      button.addEventListener("click", () => show(name, build, button));
      bar.append(button);
    }
    container.append(bar, body);
    show(tabs[0][0], tabs[0][1], bar.firstChild);
  }

  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
      .map(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));
  }

  function overview(x) {
    const tokens = `${num(x.input_tokens)} / ${num(x.output_tokens)}`;
    const cache = `${num(x.cache_read_tokens)} / ${num(x.cache_creation_tokens)}`;
    return el("div", {}, facts([
      ["id", x.id], ["time", datetime(x.started_at)], ["model", x.model],
      ["upstreamModel", x.upstream_model], ["mode", x.mode], ["routing", UI.servedBy(x)], ["path", x.path + (x.query ? "?" + x.query : "")],
      ["state", t("state_" + x.state)], ["status_", x.status], ["duration", ms(x.duration_ms)], ["ttfb", ms(x.ttfb_ms)],
      ["ttft", ms(x.ttft_ms)], ["tokensInOut", tokens], ["cacheReadWrite", cache], ["cost", usd(x.cost_usd)],
      ["stopReason", x.stop_reason], ["session", x.session_id], ["agent", x.agent_id], ["parentAgent", x.parent_agent_id],
      ["requestId", x.upstream_request_id], ["errorKind", x.error_kind], ["error", x.error_message],
      ["project", x.project], ["tags", x.tags],
      ["upstreamCacheMiss", x.cache_miss_reason ? `${x.cache_miss_reason} (${num(x.cache_missed_tokens)})` : null],
      ["genaiPrices", x.calculated_cost_usd !== null && x.calculated_cost_usd !== undefined ? usd(x.calculated_cost_usd) : null],
    ]), attemptTable(x), x.anatomy && window.Usage ? window.Usage.anatomyBar(x.anatomy) : null);
  }

  // Every upstream attempt when the exchange failed over (keys masked when recorded).
  function attemptTable(x) {
    const rows = UI.attempts(x);
    if (!rows.length) return null;
    const head = ["provider_", "model", "keyLabel", "status_", "attemptError", "startedAt", "duration"];
    return el("div", { class: "attempts" }, el("h3", {}, t("attemptsTitle")),
      el("table", { class: "small" },
        el("thead", {}, el("tr", {}, head.map((k) => el("th", {}, t(k))))),
        el("tbody", {}, rows.map((a) => el("tr", {},
          el("td", {}, a.provider), el("td", {}, a.model || "—"), el("td", {}, a.key || "client"),
          el("td", {}, a.status === null || a.status === undefined ? "—" : String(a.status)),
          el("td", {}, a.error || "✓"), el("td", {}, ms(a.t * 1000)), el("td", {}, ms(a.ms)))))));
  }

  function conversation(x) {
    const req = x.request && typeof x.request === "object" ? x.request : {};
    const out = el("div", { class: "conversation" });
    if (req.system) out.append(turn("system", blocks(req.system)));
    if (Array.isArray(req.tools) && req.tools.length) {
      out.append(el("details", { class: "tools-list" }, el("summary", {}, I18N.plural("toolsOffered", req.tools.length)),
        el("p", {}, req.tools.map((tool) => tool.name).join(", "))));
    }
    for (const message of req.messages || []) out.append(turn(message.role, blocks(message.content)));
    if (x.response && typeof x.response === "object" && x.response.content) {
      out.append(turn("assistant", blocks(x.response.content), "reply"));
    } else if (x.response) {
      out.append(turn("response", [jsonBlock(x.response)], "reply"));
    }
    return out;
  }

  function turn(role, parts, extra) {
    return el("section", { class: `turn role-${role} ${extra || ""}` }, el("h4", {}, t("role_" + role) || role), parts);
  }

  function blocks(content) {
    if (typeof content === "string") return [el("pre", { class: "text" }, content)];
    if (!Array.isArray(content)) return [jsonBlock(content)];
    return content.map(block);
  }

  function block(b) {
    if (!b || typeof b !== "object") return el("pre", { class: "text" }, String(b));
    switch (b.type) {
      case "text": return el("pre", { class: "text" }, b.text || "");
      case "thinking": return el("details", { class: "thinking" }, el("summary", {}, t("thinking")), el("pre", { class: "text" }, b.thinking || ""));
      case "redacted_thinking": return el("p", { class: "muted" }, t("redactedThinking"));
      case "tool_use":
      case "server_tool_use":
        return el("div", { class: "tool-call" }, el("div", { class: "tool-name" }, "⚙ ", b.name || "?", el("span", { class: "muted" }, " " + (b.id || ""))),
          el("pre", { class: "json" }, JSON.stringify(b.input ?? b.input_raw ?? {}, null, 2)));
      case "tool_result":
        return el("div", { class: "tool-result" + (b.is_error ? " is-error" : "") },
          el("div", { class: "tool-name" }, "↩ ", t("toolResult"), el("span", { class: "muted" }, " " + (b.tool_use_id || ""))), blocks(b.content ?? ""));
      case "image": return el("p", { class: "muted" }, `[${t("image")} ${b.source?.media_type || b.source?.type || ""}]`);
      case "document": return el("p", { class: "muted" }, `[${t("document")} ${b.title || b.source?.media_type || ""}]`);
      default: return jsonBlock(b);
    }
  }

  function jsonBlock(value) {
    const text = JSON.stringify(value ?? null, null, 2);
    return el("div", { class: "json-block" }, copyButton(() => text), el("pre", { class: "json" }, text));
  }

  function headers(x) {
    const table = (title, h) => el("div", {}, el("h4", {}, t(title)), el("table", { class: "kv" },
      el("tbody", {}, Object.entries(h || {}).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))));
    return el("div", { class: "two-col" }, table("requestHeaders", x.request_headers), table("responseHeaders", x.response_headers));
  }

  function translation(x) {
    const changes = diff(x.request, x.upstream_request, "", []).slice(0, 300);
    const notes = x.translation_changes || [];
    return el("div", {},
      notes.length ? el("h4", {}, t("translationNotes", { n: notes.length })) : null,
      notes.length ? el("ul", { class: "changes translation-notes" }, notes.map((note) => el("li", {}, note))) : null,
      el("h4", {}, t("whatChanged", { n: changes.length })),
      el("ul", { class: "changes" }, changes.map(([path, kind]) => el("li", { class: "change-" + kind }, el("code", {}, path || "/"), " ", t("change_" + kind)))),
      el("div", { class: "two-col" },
        el("div", {}, el("h4", {}, t("clientRequest")), jsonBlock(x.request)),
        el("div", {}, el("h4", {}, t("upstreamRequest")), jsonBlock(x.upstream_request))));
  }

  // Paths present only on one side, or holding different scalars, down to a few levels.
  function diff(a, b, path, out) {
    const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
    if (isObj(a) && isObj(b) && path.split(".").length < 4) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const p = path ? `${path}.${k}` : k;
        if (!(k in b)) out.push([p, "dropped"]);
        else if (!(k in a)) out.push([p, "added"]);
        else diff(a[k], b[k], p, out);
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out.push([path, "changed"]);
    }
    return out;
  }

  // Milestones from the recorded timeline: [offset_ms, label, bytes] per SSE event.
  function milestones(x) {
    const tl = x.timeline || [];
    const first = (pred) => (tl.find((e) => pred(e[1])) || [null])[0];
    const marks = [
      ["received", 0], ["upstreamFirstByte", x.ttfb_ms],
      ["firstThinking", first((l) => l === "thinking_delta")], ["firstText", first((l) => l === "text_delta")],
      ["firstTool", first((l) => l === "start:tool_use" || l === "start:server_tool_use")],
      ["lastEvent", tl.length ? tl[tl.length - 1][0] : null], ["end", x.duration_ms],
    ];
    return marks.filter((m) => m[1] !== null && m[1] !== undefined);
  }

  function stalls(tl) {
    const gaps = [];
    for (let i = 1; i < tl.length; i++) gaps.push([tl[i - 1][0], tl[i][0] - tl[i - 1][0]]);
    const sorted = gaps.map((g) => g[1]).sort((p, q) => p - q);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
    const limit = Math.max(1000, 5 * median);
    return { stalls: gaps.filter((g) => g[1] >= limit), maxGap: sorted.length ? sorted[sorted.length - 1] : 0, median };
  }

  // A round step giving about five ticks over `end` ms.
  function tickStep(end) {
    const raw = end / 5, p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-3))));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  // Milestone labels in as many rows as they need, so none overlaps another.
  function labelRows(groups, pos, W) {
    const rows = [];
    return groups.map(({ at, names }) => {
      const text = names.join(" · "), width = 6.2 * text.length, x = pos(at);
      const [from, to] = x > 0.6 * W ? [x - width, x] : [x, x + width];
      let row = rows.findIndex((end) => from > end + 8);
      if (row < 0) { rows.push(to); row = rows.length - 1; } else rows[row] = to;
      return { x, text, row, anchor: x > 0.6 * W ? "end" : "start" };
    });
  }

  function waterfall(x) {
    const tl = x.timeline || [];
    const marks = milestones(x);
    const end = Math.max(1, ...marks.map((m) => m[1]));
    const W = 640, L = 10, R = 14, AXIS = 70;
    const pos = (v) => L + (v / end) * (W - L - R);
    const groups = [];
    for (const [name, at] of marks) {  // marks closer than 60px share one label
      const last = groups[groups.length - 1];
      if (last && pos(at) - pos(last.at) < 60) last.names.push(t(name));
      else groups.push({ at, names: [t(name)] });
    }
    const labels = labelRows(groups, pos, W);
    const H = AXIS + 14 + 12 * Math.max(1, ...labels.map((l) => l.row + 1));
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "waterfall", role: "img", "aria-label": t("waterfall") });
    const step = tickStep(end);
    for (let v = 0; v <= end + 1e-9; v += step) {  // the time axis
      chart.append(svg("line", { x1: pos(v), x2: pos(v), y1: 14, y2: AXIS - 8, class: "grid" }),
        svg("text", { x: pos(v), y: AXIS + 2, class: "axis", "text-anchor": v === 0 ? "start" : pos(v) > W - 30 ? "end" : "middle" }, ms(v)));
    }
    chart.append(svg("line", { x1: pos(0), x2: pos(end), y1: AXIS - 8, y2: AXIS - 8, class: "wf-axis" }));
    chart.append(svg("rect", { x: pos(0), y: 30, width: Math.max(1, pos(x.ttfb_ms || 0) - pos(0)), height: 14, class: "wf-wait" }, svg("title", {}, t("upstreamFirstByte"))));
    const info = stalls(tl);
    for (const [at, gap] of info.stalls) {
      chart.append(svg("rect", { x: pos(at), y: 26, width: Math.max(2, pos(at + gap) - pos(at)), height: 22, class: "wf-stall" }, svg("title", {}, `${t("stall")} ${ms(gap)}`)));
    }
    for (const [at, label] of tl) {
      chart.append(svg("line", { x1: pos(at), x2: pos(at), y1: 32, y2: 42, class: "wf-event ev-" + label.replace(/[^a-z_]/g, "") }, svg("title", {}, `${ms(at)} ${label}`)));
    }
    for (const { x: at, text, row, anchor } of labels) {
      chart.append(svg("line", { x1: at, x2: at, y1: 20, y2: 56, class: "wf-mark" }));
      chart.append(svg("text", { x: at, y: AXIS + 16 + row * 12, class: "axis wf-label", "text-anchor": anchor }, text));
    }
    const rate = x.output_tokens && x.ttft_ms !== null && x.duration_ms - x.ttft_ms >= 10 ? (1000 * x.output_tokens) / (x.duration_ms - x.ttft_ms) : null;
    const backend = x.upstream_response || [];
    return el("div", {}, chart, facts([
      ...marks.map(([name, at]) => [name, ms(at)]),
      ["events", num(tl.length)], ["medianGap", ms(info.median)], ["maxGap", ms(info.maxGap)],
      ["stalls", num(info.stalls.length)], ["tokensPerSecond", rate === null ? null : rate.toFixed(1)],
    ]), tl.length ? null : el("p", { class: "muted" }, t("noTimeline")),
    backend.length
      ? el("div", { class: "two-col stream-columns" },
        el("div", {}, el("h4", {}, t("backendStream")), eventList(backend.map(([at, text]) => [1000 * at, t("backendChunk"), text.length, text]))),
        el("div", {}, el("h4", {}, t("translatedEvents")), eventList(tl.map((e, i) => [e[0], e[1], e[2], (x.events || [])[i]]))))
      : tl.length ? el("div", {}, el("h4", {}, t("streamEvents")), eventList(tl.map((e, i) => [e[0], e[1], e[2], (x.events || [])[i]]))) : null);
  }

  const MAX_EVENTS = 2000;

  // rows: [offset ms, label, bytes, data]; each opens to show its data (built when opened).
  function eventList(rows) {
    const shown = rows.slice(0, MAX_EVENTS);
    const list = el("ol", { class: "event-list" }, shown.map(([at, label, size, data]) => {
      const item = el("details", { class: "event" }, el("summary", {}, el("span", { class: "event-time" }, ms(at)), " ",
        el("code", {}, label), " ", el("span", { class: "muted small" }, UI.bytes(size))));
      item.addEventListener("toggle", () => {
        if (item.open && item.children.length === 1) item.append(data ? el("pre", { class: "json" }, pretty(data)) : el("p", { class: "muted small" }, t("noEventData")));
      });
      return el("li", {}, item);
    }));
    return rows.length > MAX_EVENTS ? el("div", {}, list, el("p", { class: "muted small" }, t("eventsCut", { n: num(MAX_EVENTS), total: num(rows.length) }))) : list;
  }

  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
  }

  return { render, ratio };
})();
