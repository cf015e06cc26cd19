"""Live updates for dashboards: the EventHub and the SSE feed `/api/monitor/stream`.

The recorder calls `EventHub.on_rows` from its writer thread after each committed batch, so the
hub never sits on the proxy's hot path. Each subscriber has its own filters and a bounded queue:
a slow tab overflows into one `resync` message (reload the list) instead of growing memory.
Stats are recomputed at most once per `STATS_EVERY_S`, per distinct filter set, in a thread.

Messages (unnamed SSE `data:` lines, JSON):
    {"type": "request", "request": <summary>}   an exchange started or finished
    {"type": "stats", "stats": <stats>}         fresh numbers for the subscriber's filters
    {"type": "clear"}                           the store was emptied
    {"type": "resync"}                          events were dropped; reload the list
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from anthropic_proxy import tasks
from anthropic_proxy.monitor import queries, stats
from anthropic_proxy.storage import Row, Store

log = logging.getLogger("anthropic_proxy.monitor")
QUEUE_SIZE = 256
STATS_EVERY_S = 1.0
KEEPALIVE_S = 15.0
END = b""


def encode(message: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(message) + b"\n\n"


@dataclass(eq=False)
class Subscriber:
    query: dict[str, str]
    """The client's filter parameters, parsed again for each stats refresh (relative ranges)."""
    filters: queries.Filters
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    stats_due: bool = False

    def offer(self, data: bytes) -> None:
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self._drain()
            self.queue.put_nowait(encode({"type": "resync"}))

    def _drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()


class EventHub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = tasks.spawn(self._refresh_stats(), "monitor-stats")

    async def stop(self) -> None:
        """End every open stream and the stats task; safe to call twice."""
        self._loop = None
        for sub in self.subscribers:
            sub.offer(END)
        task, self._task = self._task, None
        await tasks.cancel(task)

    def on_rows(self, rows: Sequence[Row]) -> None:
        """Recorder listener, called in the writer thread: hand small summaries to the loop."""
        if self._loop is None or self._loop.is_closed():
            return
        summaries = [queries.summary(r) for r in rows]
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
            self._loop.call_soon_threadsafe(self.publish, summaries)

    def subscribe(self, query: Mapping[str, str]) -> Subscriber:
        sub = Subscriber(dict(query), queries.parse_filters(query))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, summaries: Sequence[dict[str, Any]]) -> None:
        for sub in self.subscribers:
            wanted = [s for s in summaries if queries.matches(sub.filters, s)]
            for summary in wanted:
                sub.offer(encode({"type": "request", "request": summary}))
            sub.stats_due = sub.stats_due or bool(wanted)
        self._dirty.set()

    def cleared(self) -> None:
        for sub in self.subscribers:
            sub.offer(encode({"type": "clear"}))
            sub.stats_due = True
        self._dirty.set()

    async def _refresh_stats(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(STATS_EVERY_S)  # coalesce a burst of batches into one refresh
            self._dirty.clear()
            try:
                await self._send_stats([s for s in self.subscribers if s.stats_due])
            except Exception:
                log.exception("live stats refresh failed")

    async def _send_stats(self, due: list[Subscriber]) -> None:
        by_query: dict[bytes, list[Subscriber]] = {}
        for sub in due:
            sub.stats_due = False
            by_query.setdefault(orjson.dumps(sub.query, option=orjson.OPT_SORT_KEYS), []).append(
                sub
            )
        for group in by_query.values():
            data = await self.stats_message(group[0].query)
            for sub in group:
                sub.offer(data)

    async def stats_message(self, query: Mapping[str, str]) -> bytes:
        filters = queries.parse_filters(query)
        numbers = await asyncio.to_thread(stats.compute, self.store, filters)
        storage = {"bytes": await asyncio.to_thread(self.store.size_bytes)}
        return encode({"type": "stats", "stats": {**numbers, "storage": storage}})


async def stream(request: web.Request, hub: EventHub) -> web.StreamResponse:
    """GET /api/monitor/stream: stats at once, then events matching the query's filters."""
    queries.check_params(request.query, queries.PAGE_PARAMS)
    query = {k: v for k, v in request.query.items() if k not in {"page", "limit", "sort", "order"}}
    sub = hub.subscribe(query)  # raises BadRequest before the response starts
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n" + await hub.stats_message(query))
        await _pump(response, sub)
    except ConnectionResetError:
        pass  # the tab went away
    finally:
        hub.unsubscribe(sub)
    return response


async def _pump(response: web.StreamResponse, sub: Subscriber) -> None:
    while True:
        try:
            data = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
        except TimeoutError:
            data = b": keep-alive\n\n"
        if data == END:
            return
        await response.write(data)
