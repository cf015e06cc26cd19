"""The detail view's read: one exchange, whole (headers parsed, request body rebuilt from its
parts, the packed payload expanded), and the stored responses the request cards show.

Rows written before migration 009 keep their payload in columns of their own; both shapes read
the same here.
"""

from __future__ import annotations

from typing import Any

import orjson

from anthropic_proxy.monitor.queries import SUMMARY_COLUMNS, summary
from anthropic_proxy.storage import Row, Store
from anthropic_proxy.storage.bodies import join
from anthropic_proxy.storage.packing import unpack

DETAIL_EXTRA = (
    "query client_addr request_headers request_ref response_headers price_version "
    "upstream_request_id ratelimit cache_miss_reason cache_missed_tokens calculated_cost_usd"
)
# The stored record's columns: `payload` (since migration 009) and the columns it replaced.
PAYLOAD_COLUMNS = ("payload", "upstream_request", "response_body", "timeline")


def get_exchange(store: Store, exchange_id: str) -> dict[str, Any] | None:
    """The whole exchange: headers parsed, request body rebuilt, compressed columns expanded."""
    columns = [
        *SUMMARY_COLUMNS,
        *DETAIL_EXTRA.split(),
        *PAYLOAD_COLUMNS,
    ]
    rows = store.fetch(
        f"SELECT {', '.join(columns)} FROM exchange_details WHERE id = ?", [exchange_id]
    )
    return detail(store, rows[0]) if rows else None


def responses(store: Store, ids: list[str]) -> dict[str, Any]:
    """The stored responses of some exchanges (no request rebuilt), by id."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    columns = ", ".join(["id", *PAYLOAD_COLUMNS, "request_headers", "response_headers"])
    sql = f"SELECT {columns} FROM exchange_details WHERE id IN ({marks})"
    return {r["id"]: stored_payload(r)["response"] for r in store.fetch(sql, ids)}


def detail(store: Store, row: Row) -> dict[str, Any]:
    out = summary(row)
    stored = stored_payload(row)
    upstream, changes, backend_stream = _upstream(stored["upstream"])
    out.update(
        query=row.get("query") or "",
        client_addr=row.get("client_addr"),
        price_version=row.get("price_version"),
        upstream_request_id=row.get("upstream_request_id"),
        ratelimit=_json_text(row.get("ratelimit")),
        cache_miss_reason=row.get("cache_miss_reason"),
        cache_missed_tokens=row.get("cache_missed_tokens"),
        calculated_cost_usd=row.get("calculated_cost_usd"),
        request_headers=stored["request_headers"],
        response_headers=stored["response_headers"],
        request=_request_body(store, row.get("request_ref")),
        upstream_request=upstream,
        translation_changes=changes,
        response=stored["response"],
        timeline=stored["timeline"],
        events=stored["events"],
        upstream_response=backend_stream,
    )
    return out


def stored_payload(row: Row) -> dict[str, Any]:
    """Headers, response, timeline and upstream request: packed in `payload` (see
    `storage.packing`), or in columns of their own in rows written before migration 009."""
    if row.get("payload"):
        packed = unpack(bytes(row["payload"]))
        content = packed.get("content") or {}
        return {
            "request_headers": packed.get("request_headers") or {},
            "response_headers": packed.get("response_headers") or {},
            "timeline": packed.get("timeline") or [],
            "response": content.get("response"),
            "upstream": content.get("upstream"),
            "events": content.get("events") or [],
        }
    return {
        "request_headers": _json_text(row.get("request_headers")),
        "response_headers": _json_text(row.get("response_headers")),
        "timeline": _unpacked(row.get("timeline")) or [],
        "response": _unpacked(row.get("response_body")),
        "upstream": _unpacked(row.get("upstream_request")),
        "events": [],
    }


def _upstream(value: Any) -> tuple[Any, list[str], list[Any]]:
    """The stored upstream record: `{"request": body, "changes": [...]}` plus, for a stream,
    `"response"`: the backend's raw chunks; or (rows recorded before the changes were kept) the
    bare body."""
    if isinstance(value, dict) and {"request", "changes"} <= value.keys() <= UPSTREAM_KEYS:
        return value["request"], list(value["changes"] or []), list(value.get("response") or [])
    return value, [], []


UPSTREAM_KEYS = frozenset({"request", "changes", "response"})


def _json_text(text: str | None) -> Any:
    return orjson.loads(text) if text else {}


def _unpacked(data: bytes | None) -> Any:
    return unpack(bytes(data)) if data else None


def _request_body(store: Store, ref: str | None) -> Any:
    if not ref:
        return None
    try:
        return join(ref, store.blob)
    except LookupError as exc:
        return {"_unavailable": str(exc)}
