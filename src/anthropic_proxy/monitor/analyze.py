"""The analysis report: summary, per model, errors by cause with a likely fix, slowest exchanges,
cost breakdown, cache efficiency, sessions and the seed's request-type distribution.

The report is JSON only. Its HTML view (`web/analyze.html`) renders it in the browser with
text nodes, so recorded content can never become markup there.
"""

from __future__ import annotations

import re
import time
from typing import Any

from anthropic_proxy.exchange import INCOMPLETE
from anthropic_proxy.monitor import cards, queries, sessions, stats
from anthropic_proxy.storage import Row, Store

SLOWEST = 10
TYPED_SAMPLE = 5000
FAILED_STATES = INCOMPLETE
"""Every final state but success: a client hanging up gets its own group too."""
ERRORS_SQL = """
SELECT COALESCE(error_kind, '') AS kind, COALESCE(status, 0) AS status, state, COUNT(*) AS n,
  MAX(started_at) AS last_at, MAX(error_message) AS sample, MAX(id) AS last_id
FROM exchanges{clause} GROUP BY COALESCE(error_kind, ''), COALESCE(status, 0), state
ORDER BY n DESC, kind, status, state"""

# (what to match: error kind, HTTP status or final state; cause; likely fix). First match wins.
FIXES: tuple[tuple[str, str, str], ...] = (
    (
        "prompt is too long",
        "Context window exceeded",
        "Run /compact or /clear in Claude Code, or pick a model with a longer context.",
    ),
    (
        "authentication_error",
        "API key rejected",
        "Check the key Claude Code sends (ANTHROPIC_API_KEY or `claude login`), or OPENROUTER_API_KEY in translation mode.",
    ),
    (
        "401",
        "API key rejected",
        "Check the key Claude Code sends (ANTHROPIC_API_KEY or `claude login`), or OPENROUTER_API_KEY in translation mode.",
    ),
    (
        "billing_error",
        "Out of credits",
        "Add credits or raise the spending limit with the provider.",
    ),
    ("402", "Out of credits", "Add credits or raise the spending limit with the provider."),
    (
        "permission_error",
        "Key not allowed",
        "The key lacks access to this model or feature; check its workspace and model permissions.",
    ),
    (
        "not_found_error",
        "Unknown model or path",
        "Check the model name and the model mapping on /config.",
    ),
    ("404", "Unknown model or path", "Check the model name and the model mapping on /config."),
    (
        "rate_limit_error",
        "Rate limited",
        "Claude Code retries after retry-after; lower parallel agents or raise the rate-limit tier.",
    ),
    (
        "429",
        "Rate limited",
        "Claude Code retries after retry-after; lower parallel agents or raise the rate-limit tier.",
    ),
    (
        "overloaded_error",
        "Upstream overloaded",
        "Transient on the provider's side; Claude Code retries. Consider another model if it persists.",
    ),
    (
        "529",
        "Upstream overloaded",
        "Transient on the provider's side; Claude Code retries. Consider another model if it persists.",
    ),
    (
        "too_large",
        "Request body too large",
        "Raise MAX_BODY_SIZE, or send fewer or smaller attachments.",
    ),
    ("413", "Request body too large", "Raise MAX_BODY_SIZE, or send fewer or smaller attachments."),
    (
        "loop_detected",
        "Request loop",
        "The upstream URL points back at this proxy: set ANTHROPIC_UPSTREAM_URL to the real API.",
    ),
    (
        "upstream_unavailable",
        "Upstream unreachable",
        "Check the upstream URL, DNS, firewall or outbound proxy settings.",
    ),
    (
        "upstream_broken",
        "Upstream connection broke",
        "The upstream reset or cut the stream mid-answer (Claude Code retries); if frequent, check "
        "outbound proxies, firewalls and keep-alive timeouts between here and the upstream.",
    ),
    (
        "timeout",
        "Upstream timed out",
        "No bytes within REQUEST_TIMEOUT: raise --request-timeout or check the backend's health.",
    ),
    (
        "client_closed",
        "Client hung up",
        "Claude Code cancelled (Esc, or its own timeout); only worth a look if frequent.",
    ),
    (
        "interrupted",
        "Proxy stopped mid-exchange",
        "The proxy was restarted or crashed while this exchange was in flight.",
    ),
    (
        "invalid_request_error",
        "Request rejected",
        "The backend refused the body; in translation mode compare client and upstream requests.",
    ),
    (
        "400",
        "Request rejected",
        "The backend refused the body; in translation mode compare client and upstream requests.",
    ),
    ("internal", "Proxy failure", "A proxy bug: report it with the exchange id."),
    (
        "api_error",
        "Upstream internal error",
        "Transient on the provider's side; retried by Claude Code.",
    ),
)

# The seed's request-type categories, matched on the turn's user text (English keywords).
TYPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "Debugging & Fixing",
            r"\b(bug|fix|error|exception|traceback|fail(s|ing|ed)?|broken|crash)",
        ),
        (
            "Optimization & Refactoring",
            r"\b(refactor|optimi[sz]e|clean ?up|simplif|performance|speed up)",
        ),
        ("Code Generation", r"\b(write|create|implement|add|generate|build)\b"),
        ("Code Analysis", r"\b(explain|review|analy[sz]e|understand|how does|what does|why)\b"),
        ("File Operations", r"\b(file|folder|directory|rename|move|delete|read)\b"),
        ("Documentation", r"\b(docs?|documentation|readme|comment|docstring)\b"),
        ("Configuration & Setup", r"\b(configure|config|setup|set up|install|deploy)\b"),
        ("Data Processing", r"\b(data|csv|json|parse|transform|convert)\b"),
    )
)


def report(store: Store, f: queries.Filters) -> dict[str, Any]:
    """The whole report for the filters."""
    clause, params = queries.where(f)
    numbers = stats.compute(store, f)
    return {
        "generatedAt": time.time(),
        "filters": f.describe(),
        "summary": {
            k: v for k, v in numbers.items() if k not in {"buckets", "perModel", "perMode"}
        },
        "perModel": numbers["perModel"],
        "errors": error_groups(store, f),
        "slowest": slowest(store, clause, params),
        "cost": cost_breakdown(store, clause, params, numbers),
        "cache": cache_efficiency(numbers),
        "sessions": sessions.list_sessions(store, f, 20),
        "requestTypes": request_types(store, clause, params),
        "requests": cards.request_cards(store, f),
    }


def error_groups(store: Store, f: queries.Filters) -> list[dict[str, Any]]:
    failed = f if f.states else queries.Filters(**{**f.__dict__, "states": FAILED_STATES})
    clause, params = queries.where(failed)
    groups = []
    for row in store.fetch(ERRORS_SQL.format(clause=clause), params):
        if row["state"] == "success":
            continue
        cause, fix = likely_fix(row["kind"], int(row["status"]), row["state"], row["sample"] or "")
        groups.append({**_error_row(row), "cause": cause, "fix": fix})
    return groups


def _error_row(row: Row) -> dict[str, Any]:
    return {
        "error_kind": row["kind"] or None,
        "status": int(row["status"]) or None,
        "state": row["state"],
        "count": int(row["n"]),
        "last_at": row["last_at"],
        "sample": row["sample"],
        "last_id": row["last_id"],
    }


def likely_fix(kind: str, status: int, state: str, message: str) -> tuple[str, str]:
    facts = {kind, state, str(status)}
    text = message.lower()
    for needle, cause, fix in FIXES:
        if needle in facts or (" " in needle and needle in text):
            return cause, fix
    if status >= 500:
        return "Upstream server error", "Transient on the provider's side; retried by Claude Code."
    return "Other", "Open the latest exchange of this group to read the full error."


def slowest(store: Store, clause: str, params: list[Any]) -> list[dict[str, Any]]:
    keep = f"{clause} AND duration_ms IS NOT NULL" if clause else " WHERE duration_ms IS NOT NULL"
    sql = f"SELECT {', '.join(queries.SUMMARY_COLUMNS)} FROM exchanges{keep} ORDER BY duration_ms DESC, id DESC LIMIT ?"
    return [queries.summary(r) for r in store.fetch(sql, [*params, SLOWEST])]


def cost_breakdown(
    store: Store, clause: str, params: list[Any], numbers: stats.Stats
) -> dict[str, Any]:
    return {
        "total": numbers["totalCost"],
        "byModel": [
            {"key": m["key"], "cost": m["cost"], "count": m["count"]} for m in numbers["perModel"]
        ],
        "byMode": [
            {"key": m["key"], "cost": m["cost"], "count": m["count"]} for m in numbers["perMode"]
        ],
        "byKind": [
            {"key": m["key"], "cost": m["cost"], "count": m["count"]}
            for m in stats.grouped(store, "kind", clause, params)
        ],
        "unpriced": _unpriced(store, clause, params),
    }


def _unpriced(store: Store, clause: str, params: list[Any]) -> int:
    keep = f"{clause} AND" if clause else " WHERE"
    sql = (
        f"SELECT COUNT(*) AS n FROM exchanges{keep} cost_usd IS NULL AND output_tokens IS NOT NULL"
    )
    return int(store.fetch(sql, params)[0]["n"])


def cache_efficiency(numbers: stats.Stats) -> dict[str, Any]:
    per_model = [
        {"key": m["key"], "hitRatio": stats.cache_hit_ratio(m["inputTokens"], m["cacheRead"], m["cacheWrite"]),
         "cacheRead": m["cacheRead"], "cacheWrite": m["cacheWrite"], "input": m["inputTokens"]}
        for m in numbers["perModel"]
    ]  # fmt: skip
    return {"hitRatio": numbers["cacheHitRatio"], **numbers["tokens"], "perModel": per_model}


def request_types(store: Store, clause: str, params: list[Any]) -> list[dict[str, Any]]:
    """The seed's distribution over the latest TYPED_SAMPLE 'messages' exchanges."""
    keep = f"{clause} AND kind = 'messages'" if clause else " WHERE kind = 'messages'"
    sql = f"SELECT preview FROM exchanges{keep} ORDER BY started_at DESC LIMIT ?"
    counts: dict[str, int] = {}
    for row in store.fetch(sql, [*params, TYPED_SAMPLE]):
        name = classify((row["preview"] or "").split("\n→", 1)[0])
        counts[name] = counts.get(name, 0) + 1
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [{"type": k, "count": v, "percent": round(100 * v / total, 1)} for k, v in ranked]


def classify(text: str) -> str:
    for name, pattern in TYPES:
        if pattern.search(text):
            return name
    return "General Query"
