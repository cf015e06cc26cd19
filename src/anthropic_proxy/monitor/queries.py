"""Request filters as portable SQL, and the list view's read (the detail view's: `details.py`).

Filters come from the query string (`status`, `model`, `provider`/`mode`, `timeRange`, `from`,
`to`, `session`, `agent`, `kind`, `q`) and become one WHERE clause with `?` placeholders, valid
on SQLite and PostgreSQL alike. `matches` is the same predicate in Python, for live events.
Kept as one module (~410 lines) on purpose: parsing a filter, its SQL and its Python twin must
change together.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from anthropic_proxy.errors import BadRequest
from anthropic_proxy.exchange import FAILED, STATES, seed_status
from anthropic_proxy.storage import Row, Store

SUMMARY_COLUMNS = [
    "id",
    "started_at",
    "finished_at",
    "kind",
    "mode",
    "method",
    "path",
    "model",
    "upstream_model",
    "stream",
    "state",
    "status",
    "request_bytes",
    "response_bytes",
    "ttfb_ms",
    "ttft_ms",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "stop_reason",
    "session_id",
    "agent_id",
    "parent_agent_id",
    "error_kind",
    "error_message",
    "preview",
    "stored_bytes",
    "project",
    "tags",
    "provider",
    "attempts",
]
RANGES = {"1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2_592_000}
SORTABLE = {
    "started_at", "duration_ms", "ttft_ms", "ttfb_ms", "cost_usd", "input_tokens",
    "output_tokens", "status", "request_bytes", "response_bytes",
}  # fmt: skip
MAX_LIMIT = 1000
SEARCHED = ("preview", "model", "upstream_model", "error_message")
SEARCHED_CHEAP_FIRST = ("model", "upstream_model", "error_message", "preview")
FILTER_PARAMS = frozenset(
    "status state model provider mode kind timeRange from to session agent project tag q servedBy".split()
)
PAGE_PARAMS = frozenset("page limit sort order".split())
COUNT_CAP = 1_000
"""A text search counts at most this many matches (more past a deep page); beyond, `total_capped`."""


@dataclass(frozen=True)
class Filters:
    states: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    session: str | None = None
    agent: str | None = None
    project: str | None = None
    tag: str | None = None
    """One tag of the exchange's `x-proxy-tags`."""
    served_by: str | None = None
    """The routing provider that served (`servedBy=`; `provider=` is the seed's mode)."""
    since: float | None = None
    """Unix seconds, inclusive."""
    until: float | None = None
    """Unix seconds, exclusive."""
    q: str = ""

    def describe(self) -> dict[str, Any]:
        """The filters that are set, for export headers and echoes."""
        return {k: v for k, v in asdict(self).items() if v not in ((), None, "")}


@dataclass(frozen=True)
class Page:
    page: int = 1
    limit: int = 50
    sort: str = "started_at"
    descending: bool = True

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _values(query: Mapping[str, str], *names: str) -> tuple[str, ...]:
    raw = ",".join(query.get(n, "") for n in names)
    return tuple(
        dict.fromkeys(v.strip() for v in raw.split(",") if v.strip() and v.strip() != "all")
    )


def check_params(query: Mapping[str, str], *allowed: frozenset[str]) -> None:
    """BadRequest for a parameter the route does not take (a typo such as `since` for `from`
    would otherwise be ignored silently and answer for all exchanges)."""
    known = FILTER_PARAMS.union(*allowed)
    unknown = sorted(set(query) - known)
    if unknown:
        raise BadRequest(
            f"unknown query parameter {unknown[0]!r}; this route takes {', '.join(sorted(known))}"
        )


def parse_filters(query: Mapping[str, str], now: float | None = None) -> Filters:
    """Query string -> Filters; BadRequest names the parameter at fault."""
    states, statuses = _parse_status(_values(query, "status", "state"))
    since, until = _parse_time(query, time.time() if now is None else now)
    return Filters(
        states=states,
        statuses=statuses,
        models=_values(query, "model"),
        modes=_values(query, "provider", "mode"),
        kinds=_values(query, "kind"),
        session=query.get("session") or None,
        agent=query.get("agent") or None,
        project=query.get("project") or None,
        tag=query.get("tag", "").strip().lower() or None,
        served_by=query.get("servedBy", "").strip() or None,
        since=since,
        until=until,
        q=query.get("q", "").strip(),
    )


def _parse_status(values: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    states: list[str] = []
    statuses: list[int] = []
    for value in values:
        if value.isdigit():
            statuses.append(int(value))
        elif value == "failed":
            states.extend(FAILED)
        elif value in STATES:
            states.append(value)
        else:
            raise BadRequest(
                f"status: unknown value {value!r}; use {', '.join(STATES)}, failed or an HTTP status"
            )
    return tuple(dict.fromkeys(states)), tuple(statuses)


def _parse_time(query: Mapping[str, str], now: float) -> tuple[float | None, float | None]:
    span = query.get("timeRange", "")
    if span and span != "all" and span not in RANGES:
        raise BadRequest(f"timeRange: use one of {', '.join(RANGES)} or all")
    since = now - RANGES[span] if span in RANGES else None
    if query.get("from"):
        since = parse_instant(query["from"], "from")
    until = parse_instant(query["to"], "to") if query.get("to") else None
    return since, until


def parse_instant(text: str, name: str) -> float:
    """Unix seconds or milliseconds, or an ISO 8601 timestamp (naive means UTC)."""
    try:
        value = float(text)
        return value / 1000 if value > 1e11 else value
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: not a timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.now().astimezone().tzinfo).timestamp()
    return parsed.timestamp()


def parse_page(query: Mapping[str, str]) -> Page:
    page = _int(query, "page", 1)
    limit = _int(query, "limit", 50)
    if page < 1 or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"page must be >= 1 and limit between 1 and {MAX_LIMIT}")
    sort = query.get("sort", "-started_at")
    order = query.get("order", "").lower()
    if order not in ("", "asc", "desc"):
        raise BadRequest("order: use asc or desc")
    descending = sort.startswith("-") or order == "desc"
    if order == "asc":
        descending = False
    column = sort.lstrip("-+ ")
    if column not in SORTABLE:
        raise BadRequest(
            f"sort: use one of {', '.join(sorted(SORTABLE))}, optionally prefixed by -"
        )
    return Page(page, limit, column, descending)


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name) or default)
    except ValueError:
        raise BadRequest(f"{name}: not an integer: {query.get(name)!r}") from None


def in_clauses(f: Filters) -> tuple[list[str], list[Any]]:
    """`column IN (...)` for the list-valued filters, which the stats rollup also carries."""
    parts: list[str] = []
    params: list[Any] = []
    for column, values in (("state", f.states), ("status", f.statuses), ("model", f.models),
                           ("mode", f.modes), ("kind", f.kinds)):  # fmt: skip
        if values:
            parts.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    return parts, params


def where(f: Filters, dialect: str = "", text_index: bool = True) -> tuple[str, list[Any]]:
    """A WHERE clause (or '') and its parameters. On SQLite a text search first narrows the rows
    with the trigram index `exchanges_search` (a superset of the LIKE matches; 3+ characters).
    Only for queries on the `exchanges` table itself (its rowid); the default is portable SQL."""
    parts, params = in_clauses(f)
    for clause, value in (("session_id = ?", f.session), ("agent_id = ?", f.agent),
                          ("project = ?", f.project), ("provider = ?", f.served_by),
                          ("started_at >= ?", f.since), ("started_at < ?", f.until)):  # fmt: skip
        if value is not None:
            parts.append(clause)
            params.append(value)
    if f.tag is not None:
        parts.append("(',' || tags || ',') LIKE ? ESCAPE '\\'")
        params.append(f"%,{_escape_like(f.tag)},%")
    if f.q:
        likes, patterns = _likes(f.q, dialect)
        if dialect == "sqlite" and len(f.q) >= 3 and text_index:
            parts.append(
                "rowid IN (SELECT rowid FROM exchanges WHERE id = ? UNION "
                "SELECT rowid FROM exchanges WHERE session_id = ? UNION "
                "SELECT rowid FROM exchanges WHERE (rowid IN "
                "(SELECT rowid FROM exchanges_search WHERE exchanges_search MATCH ?) "
                # rows the recorder has not indexed yet are read one by one
                "OR rowid IN (SELECT row FROM search_queue)) "
                f"AND ({likes}))"
            )
            params.extend([f.q, f.q, trigrams(f.q), *patterns])
        else:
            parts.append(f"(id = ? OR session_id = ? OR {likes})")
            params.extend([f.q, f.q, *patterns])
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


def trigrams(q: str) -> str:
    """The FTS query for text containing `q`: all its trigrams (the index keeps no positions,
    so this finds a superset of the rows containing `q`; the LIKE then decides)."""
    grams = dict.fromkeys(q[i : i + 3] for i in range(len(q) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def _likes(q: str, dialect: str = "") -> tuple[str, list[str]]:
    """The text match, `column LIKE '%q%'` case-insensitively over SEARCHED (short columns
    first, so a model-name search rarely reads the preview), and its parameters. SQLite's LIKE
    already ignores ASCII case (and only ASCII, like its LOWER), so it skips LOWER's copy."""
    pattern = "%" + _escape_like(q.lower()) + "%"
    column = "{}" if dialect == "sqlite" else "LOWER({})"
    likes = " OR ".join(f"{column.format(c)} LIKE ? ESCAPE '\\'" for c in SEARCHED_CHEAP_FIRST)
    return likes, [pattern] * len(SEARCHED_CHEAP_FIRST)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(f: Filters, row: Mapping[str, Any]) -> bool:
    """`where` evaluated on one row in Python (live events)."""
    checks = (
        (f.states, row.get("state")), (f.statuses, row.get("status")), (f.models, row.get("model")),
        (f.modes, row.get("mode")), (f.kinds, row.get("kind")),
    )  # fmt: skip
    if any(allowed and value not in allowed for allowed, value in checks):
        return False
    if (f.session and row.get("session_id") != f.session) or (
        f.agent and row.get("agent_id") != f.agent
    ):
        return False
    if (f.project and row.get("project") != f.project) or (
        f.tag and f.tag not in (row.get("tags") or "").split(",")
    ):
        return False
    if f.served_by and row.get("provider") != f.served_by:
        return False
    started = row.get("started_at") or 0
    if (f.since is not None and started < f.since) or (f.until is not None and started >= f.until):
        return False
    return not f.q or _matches_text(f.q, row)


def _matches_text(q: str, row: Mapping[str, Any]) -> bool:
    if q in (row.get("id"), row.get("session_id")):
        return True
    needle = q.lower()
    return any(needle in str(row.get(c) or "").lower() for c in SEARCHED)


NOT_NULL = {"started_at", "request_bytes", "response_bytes"}


def order_by(page: Page) -> str:
    direction = "DESC" if page.descending else "ASC"
    if page.sort == "started_at":
        # No tie-breaker: it would stop the (…, started_at) indexes from giving the order.
        return f" ORDER BY started_at {direction}"
    # NULLs last in both directions, spelled portably (SQLite and PostgreSQL disagree by default).
    nulls = f"({page.sort} IS NULL), " if page.sort not in NOT_NULL else ""
    return f" ORDER BY {nulls}{page.sort} {direction}, id {direction}"


def list_exchanges(store: Store, f: Filters, page: Page) -> dict[str, Any]:
    """One page of summaries, newest first by default: `{data, total, page, limit, pages,
    total_capped}`. With a text search `total` counts at most `COUNT_CAP` matches (or up to the
    page asked for, if deeper) and `total_capped` says there are more."""
    capped = False
    if f.q:
        clause, params = text_clause(store, f, COUNT_CAP)
        total, capped = count_matches(
            store, clause, params, max(COUNT_CAP, page.offset + page.limit)
        )
    else:
        clause, params = where(f, store.dialect)
        total = store.fetch(f"SELECT COUNT(*) AS n FROM exchanges{clause}", params)[0]["n"]
    # Skip OFFSET rows on ids only (an index gives the order), then read the page's wide rows.
    ids = _page_ids(store, clause, params, page)
    rows: dict[str, Row] = {}
    if ids:
        sql = f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM exchanges WHERE id IN ({', '.join('?' * len(ids))})"
        rows = {r["id"]: r for r in store.fetch(sql, ids)}
    return {
        "data": [summary(rows[i]) for i in ids if i in rows],
        "total": total,
        "total_capped": capped,
        "page": page.page,
        "limit": page.limit,
        "pages": max(1, -(-total // page.limit)),
    }


def count_matches(store: Store, clause: str, params: list[Any], cap: int) -> tuple[int, bool]:
    """(matches, more): the exchanges matching `clause` counted up to `cap`, and whether there
    are more. Counting stops at cap + 1 rows, so a common search word costs bounded work."""
    sql = f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM exchanges{clause} LIMIT ?) AS capped"
    n = int(store.fetch(sql, [*params, cap + 1])[0]["n"])
    return min(n, cap), n > cap


def text_clause(store: Store, f: Filters, cap: int) -> tuple[str, list[Any]]:
    """The WHERE clause for filters with a text search, picked by how common the text is. On
    SQLite a rare text is found through the trigram index (cost grows with its matches); a
    common one (more than `cap` index candidates) is checked row by row while an index walks
    the sort order or the other filters, stopping once a page or the capped count is full."""
    dialect = store.dialect
    if dialect == "sqlite" and len(f.q) >= 3:
        candidates = store.fetch(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM exchanges_search "
            "WHERE exchanges_search MATCH ? LIMIT ?) AS capped",
            [trigrams(f.q), cap + 1],
        )[0]["n"]
        if candidates > cap:
            return where(f, dialect, text_index=False)
    return where(f, dialect)


def _page_ids(store: Store, clause: str, params: list[Any], page: Page) -> list[str]:
    """The ids of one page in `order_by(page)` order. A nullable sort column is read in two
    parts (values, then NULLs) so each part can walk the column's (column, id) index."""
    if page.sort == "started_at" or page.sort in NOT_NULL:
        sql = f"SELECT id FROM exchanges{clause}{order_by(page)} LIMIT ? OFFSET ?"
        return [r["id"] for r in store.fetch(sql, [*params, page.limit, page.offset])]
    direction = "DESC" if page.descending else "ASC"
    keep = f"{clause} AND" if clause else " WHERE"
    sql = (
        f"SELECT id FROM exchanges{keep} {page.sort} IS NOT NULL "
        f"ORDER BY {page.sort} {direction}, id {direction} LIMIT ? OFFSET ?"
    )
    ids = [r["id"] for r in store.fetch(sql, [*params, page.limit, page.offset])]
    if len(ids) == page.limit:
        return ids
    valued = store.fetch(f"SELECT COUNT({page.sort}) AS n FROM exchanges{clause}", params)[0]["n"]
    sql = (
        f"SELECT id FROM exchanges{keep} {page.sort} IS NULL "
        f"ORDER BY id {direction} LIMIT ? OFFSET ?"
    )
    more = store.fetch(sql, [*params, page.limit - len(ids), max(0, page.offset - valued)])
    return ids + [r["id"] for r in more]


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """The small shape lists and live events carry: no bodies, no headers."""
    out = {c: row.get(c) for c in SUMMARY_COLUMNS}
    out["stream"] = bool(out["stream"])
    out["outcome"] = seed_status(str(out["state"]))
    return out
