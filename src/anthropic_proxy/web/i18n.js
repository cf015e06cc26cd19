// English and Chinese UI strings. `I18N.t(key, {vars})` looks a key up in the chosen language,
// falling back to English, then to the key. Elements with data-i18n / data-i18n-placeholder
// are translated in place; switching language fires "i18nchange" on document.
"use strict";

const I18N = (() => {
  const en = {
    skipToContent: "Skip to content", monitor: "Monitor", config: "Config", report: "Report", health: "Health",
    theme: "Theme", connecting: "connecting", live: "live", reconnecting: "reconnecting…", loading: "Loading…",
    status: "Status", all: "All", model: "Model", mode: "Mode", kind: "Kind", other: "other", timeRange: "Time",
    allTime: "All time", last1h: "Last hour", last24h: "Last 24 hours", last7d: "Last 7 days", last30d: "Last 30 days",
    session: "Session", search: "Search", searchHint: "text, model, id… (press /)", apply: "Apply", resetFilters: "Reset",
    requests: "Requests", sessions: "Sessions", analysis: "Analysis", export: "Export", exportJson: "JSON",
    exportCompressed: "Compressed", clearAll: "Clear all", time: "Time", state: "State", duration: "Duration",
    ttft: "TTFT", ttfb: "TTFB", tokensInOut: "Tokens in / out", cacheRead: "Cache read", cost: "Cost", preview: "Preview",
    prev: "‹ Prev", next: "Next ›", perPage: "Per page", sortBy: "Sort", sortNewest: "Newest", sortOldest: "Oldest",
    sortSlowest: "Slowest", sortCostliest: "Costliest", sortMostOutput: "Most output",
    keysHint: "Keys: / search · j/k move · Enter open · ←/→ page · r refresh", exchange: "Exchange", close: "Close",
    state_success: "success", state_error: "error", state_timeout: "timeout", state_client_closed: "client closed",
    state_interrupted: "interrupted", state_upstream_broken: "upstream broken", state_pending: "pending", state_failed: "failed (any)",
    totalRequests: "Requests", activeN: "{n} in flight", sampledN: "newest {n} matches", successRate: "Success rate", errorsN: "{n} errors",
    latencyP50: "Latency p50", ttftP50: "TTFT p50", cacheReadWrite: "Cache read / write", cacheHit: "Cache hit ratio",
    totalCost: "Total cost", successful: "Successful", failed: "Failed", input: "Input", output: "Output",
    requestsOverTime: "Requests over time", latencyOverTime: "Average latency", tokensOverTime: "Tokens over time",
    costOverTime: "Cost over time", requestsPerModel: "Requests per model", costPerModel: "Cost per model",
    noData: "No data", noRequests: "No exchanges match these filters yet.", pageOf: "Page {page} of {pages} · {total} exchanges",
    newRequests: "{n} new exchanges: show", confirmClear: "Delete every recorded exchange? This cannot be undone.",
    cleared: "All exchanges deleted", copied: "Copied", copy: "Copy", cancel: "Cancel", confirm: "Confirm",
    overview: "Overview", conversation: "Conversation", waterfall: "Stream waterfall", requestJson: "Request JSON",
    responseJson: "Response JSON", headers: "Headers", translation: "Translation", id: "ID",
    routingPreset: "No routes configured: the proxy mode ({mode}) is the route below; saving makes it explicit.", routingConfigured: "Configured routes.",
    routingHint: "Routes are tried top to bottom; the first that matches a request serves it through its targets in order, moving to the next on 429, 529, 5xx, a refused connection or a timeout, before anything reached the client.",
    providers: "Providers", keys: "Keys", targetHealth: "Health", routes: "Routes", addRoute: "Add route",
    saveRoutes: "Save routes", refresh: "Refresh", routesSaved: "Routes saved", routeName: "Route name", routeModels: "Models (family, glob or id)",
    minInputTokens: "Input tokens above", moveUp: "Move up", moveDown: "Move down", removeRoute: "Remove", any: "any", yes: "yes", no: "no",
    mainThread: "main thread", subagent: "subagent", tools: "Tools", keepModel: "requested model", addTarget: "Add target",
    targetsInOrder: "Targets, tried in order:", clientKey: "client's own key", seedProvider: "from start-up flags",
    testProvider: "Test", healthUnknown: "no traffic yet", health_closed: "healthy", health_half_open: "on trial", healthOpen: "skipped {s}s",
    keyBenched: "{key}: {reason}, back in {s}s",
    servedBy: "served by {provider}", servedAfter: "served by {provider} after {failed} failed", allFailed: "every target failed: {failed}",
    routing: "Routing", attemptsTitle: "Attempts", provider_: "Provider", keyLabel: "Key", attemptError: "Failure", startedAt: "At",
    upstreamModel: "Upstream model", path: "Path", status_: "HTTP status", tokensOut: "Output tokens", stopReason: "Stop reason",
    agent: "Agent", parentAgent: "Parent agent", requestId: "Upstream request id", errorKind: "Error kind", error: "Error",
    toolsOffered: "{n} tools offered", toolsOffered_one: "1 tool offered",
    recentRequests: "Recent requests", userInput: "User input", response: "Response", toolsUsed: "Tools used", viewFull: "View full exchange",
    storageUsed: "Storage used", storageLimit: "of {limit} (oldest pruned above)", storageAll: "all exchanges, no size limit", thinking: "Thinking", redactedThinking: "[redacted thinking]", toolResult: "tool result",
    image: "image", document: "document", role_system: "System", role_user: "User", role_assistant: "Assistant",
    role_response: "Response", requestHeaders: "Request headers (secrets masked)", responseHeaders: "Response headers",
    translationNotes: "Translation notes ({n})", whatChanged: "Structural differences ({n})", translatorNotes: "What the translator changed", change_dropped: "dropped", change_added: "added",
    change_changed: "changed", clientRequest: "Client request", upstreamRequest: "Upstream request",
    received: "request received", upstreamFirstByte: "upstream first byte", firstThinking: "first thinking",
    firstText: "first text", firstTool: "first tool call", lastEvent: "last event", end: "end", events: "Events",
    medianGap: "Median gap", maxGap: "Largest gap", stalls: "Stalls", stall: "stall", tokensPerSecond: "Output tokens/s",
    noTimeline: "No stream timeline for this exchange.", generatedAt: "Generated {time}", requestTypes: "Request types",
    type: "Type", count: "Count", percent: "Share", perModel: "Per model", errors: "Errors", avgDuration: "Avg duration",
    errorsByCause: "Errors by cause", cause: "Cause", sample: "Message", fix: "Likely fix", latest: "Latest",
    noErrors: "No errors.", slowest: "Slowest exchanges", costBreakdown: "Cost breakdown", byModel: "Model",
    byMode: "Mode", byKind: "Kind", unpriced: "{n} exchanges without a known price", cacheEfficiency: "Cache efficiency",
    freshInput: "uncached input", agents: "Subagents", last: "Last active", noSessions: "No Claude Code sessions recorded for these filters.",
    agentTree: "Agents", mainAgent: "main agent", nodeTotals: "{n} exchanges · {input} in / {output} out · {cost}",
    ownCost: "own {cost}", cacheDiagnostics: "Prompt-cache diagnostics",
    cacheSummary: "{turns} turns · {breaks} cache breaks · hit ratio {hit} · {lost} tokens re-written · {cost} lost to misses",
    breakReasons: "What broke the cache", broken: "Cache break", lostCost: "Cost of the miss",
    reason_model_changed: "model changed", reason_system_changed: "system prompt changed", reason_tools_changed: "tools changed",
    reason_idle_past_ttl: "idle past the cache TTL", reason_messages_changed: "earlier messages changed",
    reason_unknown: "unknown (evicted?)", analysisReport: "Analysis report",
    proxyMode: "Proxy mode", modeHint: "Takes effect for the next request after saving; no restart needed.",
    modeAnthropic: "Direct Anthropic", modeAnthropicHint: "Pass-through to the Anthropic API, byte for byte.",
    modeOpenrouter: "OpenRouter / OpenAI-compatible", modeOpenrouterHint: "Translate to chat completions; models mapped by family.",
    unsavedMode: "Mode changed: save to apply.", backend: "Backend", baseUrl: "Base URL", apiKey: "API key",
    keyHint: "Set OPENROUTER_API_KEY in the environment; it is never stored or shown.", testAnotherKey: "Test a key",
    keyPlaceholder: "empty: test the configured key", testKey: "Test key", modelMapping: "Model mapping",
    defaultModel: "Default (other names)", rules: "Pattern rules", rulesCount: "{n} rules (edit in config.json)",
    browseModels: "Browse backend models (price, context)", searchModels: "search models", loadModels: "Load models",
    attribution: "Attribution headers", save: "Save", reload: "Reload from file", reset: "Reset to defaults",
    selfTest: "Compatibility self-test", selfTestHint: "Sends a short battery (text, stream, tools, images, thinking…) to each mapped model through the translation.",
    runSelfTest: "Run self-test", selfTestRunning: "Running… this can take up to a minute.",
    restartSettings: "Settings that need a restart", needsRestart: "restart", keyConfigured: "key set",
    keyMissing: "no key", keyNotSent: "not sent to this base URL", keyValid: "valid", keyInvalid: "invalid",
    keyUsage: "usage {usage} of {limit}", testing: "testing…", saved: "Saved: applies to the next request",
    reloaded: "Reloaded from config.json", resetDone: "Reset to defaults",
    confirmReset: "Reset the mode, backend and model mapping to their defaults?", context: "Context",
    priceIn: "$/M in", priceOut: "$/M out", use: "Use for", use_sonnet: "sonnet", use_opus: "opus", use_haiku: "haiku",
    use_defaultModel: "default", picked: "{model} picked: save to apply", modelsShown: "{n} of {total} models",
    baseUrlLocked: "Read-only: where prompts go is a start-up setting. Set OPENROUTER_BASE_URL (or edit config.json and press Reload) and restart; start with --auth-token to change it here.",
    exportConfig: "Export config", importConfig: "Import config", imported: "Config imported",
    importNotJson: "That file is not a JSON config object", importSkippedBaseUrl: "The file's base URL was not applied: base URLs are start-up settings here",
    // usage insight (usage.js)
    usage: "Usage", resetsIn: "resets in {span}", runsOutAt: "runs out ~{time} at the recent rate",
    lastsToReset: "lasts until the reset at the recent rate", usedBy: "used by", left: "left",
    sharesHint: "Share of this window's change since it began, per session (apportioned by tokens)",
    budget_daily: "Daily budget", budget_monthly: "Monthly budget",
    budgetCrossed: "{period} crossed: {spent} spent of {limit}",
    recorderLost: "{n} exchanges could not be recorded: {reason}. See /health.",
    recorderStoreFailed: "the store refused the write",
    recorderBehind: "Recording is {n} exchanges behind ({s} s): they are safe in the journal and appear as the recorder catches up.",
    sessionBudgetCrossed: "{period} crossed by session {session}: {spent} of {limit}",
    usageReport: "Report", byModel: "by model", report_daily: "Daily", report_weekly: "Weekly (from Monday)",
    report_monthly: "Monthly", report_blocks: "5-hour blocks", report_session: "Session", report_project: "Project",
    report_tag: "Tag", models: "Models", input: "Input", output: "Output", cacheWrite: "Cache write",
    totalTokens: "Total tokens", genaiPrices: "genai-prices", upstreamCost: "Upstream cost", total: "Total",
    none: "(none)", noUsage: "No exchanges in this range.", activeBlock: "active, {span} left",
    project: "Project", tags: "Tags", upstreamCacheMiss: "Upstream cache miss",
    contextAnatomy: "Context anatomy", anatomyTotal: "{n} input tokens", contextGrowth: "Context growth (main agent)",
    turn: "turn", compacted: "compacted", growthSummary: "{turns} turns, peak {max} tokens, {compactions} compaction(s)",
    contextTokens: "Context tokens", inputCost: "Input cost", byCategory: "By category", byTool: "By tool",
    byMcpServer: "By MCP server", category: "Category", tool: "Tool", mcpServer: "MCP server",
    anatomyCoverage: "{covered} of {n} exchanges analysed ({missing} more on the next refresh)",
    cat_system: "system prompt", cat_tools: "tool definitions", cat_user_text: "user text",
    cat_assistant_text: "assistant text", cat_tool_calls: "tool calls", cat_tool_results: "tool results",
    cat_thinking: "thinking", cat_images: "images", cat_documents: "documents", cat_other: "other",
    upstreamDiagnosis: "Upstream diagnosis", upstreamReasons: "Upstream cache diagnostics: {reasons}; {tokens} tokens missed, {cost}",
  };

  const zh = {
    skipToContent: "跳到内容", monitor: "监控", config: "配置", report: "报告", health: "健康检查",
    theme: "主题", connecting: "连接中", live: "实时", reconnecting: "重新连接…", loading: "加载中…",
    status: "状态", all: "全部", model: "模型", mode: "模式", kind: "类型", other: "其他", timeRange: "时间",
    allTime: "全部时间", last1h: "最近 1 小时", last24h: "最近 24 小时", last7d: "最近 7 天", last30d: "最近 30 天",
    session: "会话", search: "搜索", searchHint: "文本、模型、ID…（按 /）", apply: "应用", resetFilters: "重置",
    requests: "请求", sessions: "会话", analysis: "分析", export: "导出", exportJson: "JSON",
    exportCompressed: "压缩", clearAll: "全部清除", time: "时间", state: "结果", duration: "耗时",
    ttft: "首字时间", ttfb: "首字节时间", tokensInOut: "输入 / 输出 token", cacheRead: "缓存读取", cost: "费用", preview: "预览",
    prev: "‹ 上一页", next: "下一页 ›", perPage: "每页", sortBy: "排序", sortNewest: "最新", sortOldest: "最早",
    sortSlowest: "最慢", sortCostliest: "最贵", sortMostOutput: "输出最多",
    keysHint: "快捷键：/ 搜索 · j/k 移动 · Enter 打开 · ←/→ 翻页 · r 刷新", exchange: "请求详情", close: "关闭",
    state_success: "成功", state_error: "错误", state_timeout: "超时", state_client_closed: "客户端断开",
    state_interrupted: "中断", state_upstream_broken: "上游中断", state_pending: "进行中", state_failed: "失败（全部）",
    totalRequests: "请求数", activeN: "{n} 个进行中", sampledN: "最新 {n} 条匹配", successRate: "成功率", errorsN: "{n} 个错误",
    latencyP50: "延迟 p50", ttftP50: "首字时间 p50", cacheReadWrite: "缓存读 / 写", cacheHit: "缓存命中率",
    totalCost: "总费用", successful: "成功", failed: "失败", input: "输入", output: "输出",
    requestsOverTime: "请求量趋势", latencyOverTime: "平均延迟", tokensOverTime: "token 趋势",
    costOverTime: "费用趋势", requestsPerModel: "各模型请求数", costPerModel: "各模型费用",
    noData: "暂无数据", noRequests: "没有符合筛选条件的请求。", pageOf: "第 {page} / {pages} 页 · 共 {total} 条",
    newRequests: "{n} 条新请求：点击显示", confirmClear: "删除所有已记录的请求？此操作无法撤销。",
    cleared: "已删除所有请求", copied: "已复制", copy: "复制", cancel: "取消", confirm: "确认",
    overview: "概览", conversation: "对话", waterfall: "流式瀑布图", requestJson: "请求 JSON",
    responseJson: "响应 JSON", headers: "请求头", translation: "协议转换", id: "ID",
    routingPreset: "尚未配置路由：当前代理模式（{mode}）即下方路由；保存后将写入配置。", routingConfigured: "已配置的路由。",
    routingHint: "路由自上而下匹配；第一个匹配的路由按顺序尝试其目标，在向客户端发送任何内容之前，遇到 429、529、5xx、连接被拒或超时即切换到下一个。",
    providers: "提供方", keys: "密钥", targetHealth: "健康状况", routes: "路由", addRoute: "添加路由",
    saveRoutes: "保存路由", refresh: "刷新", routesSaved: "路由已保存", routeName: "路由名称", routeModels: "模型（系列、通配符或 ID）",
    minInputTokens: "输入 token 超过", moveUp: "上移", moveDown: "下移", removeRoute: "删除", any: "任意", yes: "是", no: "否",
    mainThread: "主线程", subagent: "子代理", tools: "工具", keepModel: "请求的模型", addTarget: "添加目标",
    targetsInOrder: "目标（按顺序尝试）：", clientKey: "客户端自己的密钥", seedProvider: "来自启动参数",
    testProvider: "测试", healthUnknown: "尚无流量", health_closed: "健康", health_half_open: "试探中", healthOpen: "跳过 {s} 秒",
    keyBenched: "{key}：{reason}，{s} 秒后恢复",
    servedBy: "由 {provider} 提供", servedAfter: "{failed} 失败后由 {provider} 提供", allFailed: "所有目标均失败：{failed}",
    routing: "路由", attemptsTitle: "尝试记录", provider_: "提供方", keyLabel: "密钥", attemptError: "失败原因", startedAt: "时间",
    upstreamModel: "上游模型", path: "路径", status_: "HTTP 状态码", tokensOut: "输出 token", stopReason: "停止原因",
    agent: "子代理", parentAgent: "父代理", requestId: "上游请求 ID", errorKind: "错误类型", error: "错误",
    toolsOffered: "提供了 {n} 个工具", toolsOffered_one: "提供了 1 个工具",
    recentRequests: "最近的请求", userInput: "用户输入", response: "响应", toolsUsed: "使用的工具", viewFull: "查看完整交互",
    storageUsed: "已用存储", storageLimit: "上限 {limit}（超出时删除最旧的）", storageAll: "全部交互，无大小上限", thinking: "思考", redactedThinking: "[已隐去的思考]", toolResult: "工具结果",
    image: "图片", document: "文档", role_system: "系统", role_user: "用户", role_assistant: "助手",
    role_response: "响应", requestHeaders: "请求头（密钥已遮盖）", responseHeaders: "响应头",
    translationNotes: "转换说明（{n}）", whatChanged: "结构差异（{n}）", translatorNotes: "转换器做的改动", change_dropped: "删除", change_added: "新增",
    change_changed: "修改", clientRequest: "客户端请求", upstreamRequest: "上游请求",
    received: "收到请求", upstreamFirstByte: "上游首字节", firstThinking: "首个思考",
    firstText: "首个文本", firstTool: "首个工具调用", lastEvent: "最后事件", end: "结束", events: "事件数",
    medianGap: "间隔中位数", maxGap: "最大间隔", stalls: "停顿", stall: "停顿", tokensPerSecond: "输出 token/秒",
    noTimeline: "此请求没有流式时间线。", generatedAt: "生成于 {time}", requestTypes: "请求类型",
    type: "类型", count: "数量", percent: "占比", perModel: "按模型", errors: "错误", avgDuration: "平均耗时",
    errorsByCause: "错误原因", cause: "原因", sample: "消息", fix: "建议修复", latest: "最近一条",
    noErrors: "没有错误。", slowest: "最慢的请求", costBreakdown: "费用明细", byModel: "模型",
    byMode: "模式", byKind: "类型", unpriced: "{n} 条请求没有已知价格", cacheEfficiency: "缓存效率",
    freshInput: "未缓存输入", agents: "子代理数", last: "最近活动", noSessions: "筛选条件下没有 Claude Code 会话。",
    agentTree: "代理树", mainAgent: "主代理", nodeTotals: "{n} 条请求 · 输入 {input} / 输出 {output} · {cost}",
    ownCost: "自身 {cost}", cacheDiagnostics: "提示缓存诊断",
    cacheSummary: "{turns} 轮 · {breaks} 次缓存失效 · 命中率 {hit} · 重写 {lost} token · 失效损失 {cost}",
    breakReasons: "缓存失效原因", broken: "缓存失效", lostCost: "失效成本",
    reason_model_changed: "模型变更", reason_system_changed: "系统提示变更", reason_tools_changed: "工具变更",
    reason_idle_past_ttl: "空闲超过缓存 TTL", reason_messages_changed: "历史消息变更",
    reason_unknown: "未知（被淘汰？）", analysisReport: "分析报告",
    proxyMode: "代理模式", modeHint: "保存后对下一个请求生效，无需重启。",
    modeAnthropic: "直连 Anthropic", modeAnthropicHint: "原样转发到 Anthropic API。",
    modeOpenrouter: "OpenRouter / OpenAI 兼容", modeOpenrouterHint: "转换为 chat completions；按模型家族映射。",
    unsavedMode: "模式已更改：保存后生效。", backend: "后端", baseUrl: "基础 URL", apiKey: "API 密钥",
    keyHint: "在环境变量中设置 OPENROUTER_API_KEY；密钥不会被保存或显示。", testAnotherKey: "测试密钥",
    keyPlaceholder: "留空：测试已配置的密钥", testKey: "测试", modelMapping: "模型映射",
    defaultModel: "默认（其他名称）", rules: "匹配规则", rulesCount: "{n} 条规则（在 config.json 中编辑）",
    browseModels: "浏览后端模型（价格、上下文）", searchModels: "搜索模型", loadModels: "加载模型",
    attribution: "来源标识头", save: "保存", reload: "从文件重新加载", reset: "恢复默认",
    selfTest: "兼容性自检", selfTestHint: "通过转换层向每个映射模型发送一组简短测试（文本、流式、工具、图片、思考…）。",
    runSelfTest: "运行自检", selfTestRunning: "运行中…最多需要一分钟。",
    restartSettings: "需要重启的设置", needsRestart: "需重启", keyConfigured: "已设置密钥",
    keyMissing: "未设置密钥", keyNotSent: "不会发送到此 URL", keyValid: "有效", keyInvalid: "无效",
    keyUsage: "已用 {usage} / 额度 {limit}", testing: "测试中…", saved: "已保存：对下一个请求生效",
    reloaded: "已从 config.json 重新加载", resetDone: "已恢复默认",
    confirmReset: "将模式、后端和模型映射恢复为默认值？", context: "上下文",
    priceIn: "输入 $/百万", priceOut: "输出 $/百万", use: "用于", use_sonnet: "sonnet", use_opus: "opus", use_haiku: "haiku",
    use_defaultModel: "默认", picked: "已选择 {model}：保存后生效", modelsShown: "显示 {n} / {total} 个模型",
    baseUrlLocked: "只读：请求发往何处是启动时的设置。请设置 OPENROUTER_BASE_URL（或编辑 config.json 后点“从文件重新加载”）并重启；若要在此处修改，请用 --auth-token 启动代理。",
    exportConfig: "导出配置", importConfig: "导入配置", imported: "配置已导入",
    importNotJson: "该文件不是 JSON 格式的配置对象", importSkippedBaseUrl: "未应用文件中的 Base URL：在此处 Base URL 是启动时的设置",
    // usage insight (usage.js)
    usage: "用量", resetsIn: "{span} 后重置", runsOutAt: "按近期速率约 {time} 用尽",
    lastsToReset: "按近期速率可用到重置", usedBy: "使用者", left: "剩余",
    sharesHint: "本窗口开始以来各会话所占的变化份额（按 token 分摊）",
    budget_daily: "每日预算", budget_monthly: "每月预算",
    budgetCrossed: "{period}已超出：已花费 {spent}，上限 {limit}",
    recorderLost: "有 {n} 次交互未能录制：{reason}。详见 /health。",
    recorderStoreFailed: "存储拒绝了写入",
    recorderBehind: "录制落后 {n} 次交互（{s} 秒）：它们已安全写入日志文件，录制器追上后即会显示。",
    sessionBudgetCrossed: "会话 {session} 超出{period}：{spent}，上限 {limit}",
    usageReport: "报表", byModel: "按模型", report_daily: "每日", report_weekly: "每周（周一起）",
    report_monthly: "每月", report_blocks: "5 小时窗口", report_session: "会话", report_project: "项目",
    report_tag: "标签", models: "模型", input: "输入", output: "输出", cacheWrite: "缓存写入",
    totalTokens: "总 token", genaiPrices: "genai-prices", upstreamCost: "上游报价", total: "合计",
    none: "（无）", noUsage: "此范围内没有请求。", activeBlock: "进行中，剩余 {span}",
    project: "项目", tags: "标签", upstreamCacheMiss: "上游缓存未命中",
    contextAnatomy: "上下文构成", anatomyTotal: "{n} 个输入 token", contextGrowth: "上下文增长（主代理）",
    turn: "轮", compacted: "已压缩", growthSummary: "{turns} 轮，峰值 {max} token，{compactions} 次压缩",
    contextTokens: "上下文 token", inputCost: "输入费用", byCategory: "按类别", byTool: "按工具",
    byMcpServer: "按 MCP 服务器", category: "类别", tool: "工具", mcpServer: "MCP 服务器",
    anatomyCoverage: "已分析 {covered}/{n} 个请求（其余 {missing} 个在下次刷新时分析）",
    cat_system: "系统提示", cat_tools: "工具定义", cat_user_text: "用户文本",
    cat_assistant_text: "助手文本", cat_tool_calls: "工具调用", cat_tool_results: "工具结果",
    cat_thinking: "思考", cat_images: "图片", cat_documents: "文档", cat_other: "其他",
    upstreamDiagnosis: "上游诊断", upstreamReasons: "上游缓存诊断：{reasons}；未命中 {tokens} token，{cost}",
  };

  const dictionaries = { en, zh };
  let lang = "en";

  function t(key, vars) {
    const text = dictionaries[lang][key] ?? en[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : text;
  }

  function apply(root) {
    for (const node of (root || document).querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of (root || document).querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    const toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.textContent = lang === "zh" ? "English" : "中文";
  }

  function set(next) {
    lang = dictionaries[next] ? next : "en";
    localStorage.setItem("lang", lang);
    apply();
    document.dispatchEvent(new CustomEvent("i18nchange"));
  }

  function init() {
    const saved = localStorage.getItem("lang");
    lang = saved && dictionaries[saved] ? saved : (navigator.language || "").startsWith("zh") ? "zh" : "en";
    apply();
    const toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.addEventListener("click", () => set(lang === "zh" ? "en" : "zh"));
  }

  // "{n} things", or the key's `_one` form when n is 1 ("1 tool offered").
  function plural(key, n) {
    const one = key + "_one";
    return t(n === 1 && (one in dictionaries[lang] || one in en) ? one : key, { n });
  }

  return { t, plural, init, set, apply, get lang() { return lang; } };
})();
