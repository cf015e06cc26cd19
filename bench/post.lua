-- wrk script for bench/run.py: POST /v1/messages with a body from a file.
-- env: BENCH_BODY (file), BENCH_MODE ("same": the body as is; "grow": the file is
--      a template whose @@UNIQ@@ marker becomes turn-<nonce><counter>, unique per request),
--      BENCH_NONCE (4 chars), BENCH_OUT (JSON summary), BENCH_KEY (x-api-key)
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/v1/messages"
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["anthropic-beta"] = "claude-code-20250219,interleaved-thinking-2025-05-14"
wrk.headers["user-agent"] = "claude-cli/2.1.0 (external, cli)"
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY") or "sk-ant-bench-0000000000000000"

if os.getenv("BENCH_MODE") == "grow" then
  local s, e = string.find(body, "@@UNIQ@@", 1, true)
  assert(s, "template has no @@UNIQ@@ marker")
  local head, tail = string.sub(body, 1, s - 1), string.sub(body, e + 1)
  local nonce = os.getenv("BENCH_NONCE") or "wrk0"
  local n = 0
  request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, head .. string.format("turn-%s%08d", nonce, n) .. tail)
  end
else
  wrk.body = body
end

done = function(summary, latency, requests)
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"lat_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
  out:close()
end
