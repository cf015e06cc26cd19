-- wrk script for bench/push.py: exactly PUSH_N requests over all threads, then each thread stops.
--
-- wrk runs for a duration; this script makes the count exact instead. delay() is called before
-- every request() on a connection (wrk.c: c->delayed), so a thread reserves a request there:
-- within its share the delay is 0, beyond it the connection waits an hour (never: the thread
-- stops first). A thread stops itself in response() once its share is answered, and prints
-- "done <thread> <answered>" so push.py can end wrk at once (wrk's main thread otherwise sleeps
-- out -d). Only a connection that breaks mid-request sends more than its share (wrk re-sends
-- without asking delay()): that shows as read/write errors and as sent > answered.
--
-- env: PUSH_BODY (file; @@UNIQ@@ in its last message becomes turn-<nonce><counter>, 17 chars),
--      PUSH_N (requests in all), PUSH_THREADS (wrk -t), PUSH_NONCE (4 chars), PUSH_EVENTS
--      (text_delta events per stream), PUSH_SESSIONS (Claude Code session ids to spread over),
--      PUSH_OUT (JSON summary)

local threads = {}
local total = tonumber(os.getenv("PUSH_N"))
local nthreads = tonumber(os.getenv("PUSH_THREADS"))

function setup(thread)
  local id = #threads
  -- share of thread id (0-based): total // nthreads, plus one for the first total % nthreads
  local share = math.floor(total / nthreads) + ((id < total % nthreads) and 1 or 0)
  thread:set("id", id)
  thread:set("share", share)
  table.insert(threads, thread)
end

local f = assert(io.open(os.getenv("PUSH_BODY"), "rb"))
local template = f:read("*a")
f:close()
local s, e = string.find(template, "@@UNIQ@@", 1, true)
assert(s, "template has no @@UNIQ@@ marker")
local head, tail = string.sub(template, 1, s - 1), string.sub(template, e + 1)
local nonce = os.getenv("PUSH_NONCE") or "push"
local sessions = tonumber(os.getenv("PUSH_SESSIONS") or "64")

wrk.method = "POST"
wrk.path = "/v1/messages?beta=true"
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["anthropic-beta"] = "claude-code-20250219,interleaved-thinking-2025-05-14"
wrk.headers["anthropic-dangerous-direct-browser-access"] = "true"
wrk.headers["user-agent"] = "claude-cli/2.1.329 (external, cli)"
wrk.headers["x-app"] = "cli"
wrk.headers["x-stainless-lang"] = "js"
wrk.headers["x-stainless-retry-count"] = "0"
wrk.headers["x-api-key"] = "sk-ant-api03-benchbenchbenchbenchbenchbench-0000"
wrk.headers["x-bench-gap-ms"] = "0"
wrk.headers["x-bench-events"] = os.getenv("PUSH_EVENTS") or "10"

-- per thread (each thread has its own Lua state; id and share arrive through thread:set);
-- globals, so that done() can read them with thread:get
reserved, sent, answered, ok, other = 0, 0, 0, 0, 0

function delay()
  if reserved < share then
    reserved = reserved + 1
    return 0
  end
  return 3600 * 1000
end

-- wrk calls request() once in thread 0 before the run to check what it returns, and does not
-- send that one: it is not counted as sent
calls = 0

function request()
  calls = calls + 1
  sent = (id == 0) and calls - 1 or calls
  local n = id * total + calls  -- unique over threads
  wrk.headers["x-claude-code-session-id"] = string.format("push-%s-%04d", nonce, n % sessions)
  return wrk.format(nil, nil, nil, head .. string.format("turn-%s%08d", nonce, n) .. tail)
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    other = other + 1
  end
  if answered == share then
    io.write(string.format("done %d %d\n", id, answered))
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t_sent, t_answered, t_ok, t_other = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t_sent = t_sent + t:get("sent")
    t_answered = t_answered + t:get("answered")
    t_ok = t_ok + t:get("ok")
    t_other = t_other + t:get("other")
  end
  local e = summary.errors
  local out = assert(io.open(os.getenv("PUSH_OUT"), "w"))
  out:write(string.format(
    '{"sent":%d,"answered":%d,"ok":%d,"non_2xx":%d,"wrk_requests":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"lat_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    t_sent, t_answered, t_ok, t_other, summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
  out:close()
end
