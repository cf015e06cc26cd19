"""Operations add-ons: they listen to the recorder, never to the hot path. One call attaches
them all, `setup(app, settings)`; `_lifespan` holds the one list of recorder listeners.

- `metrics`: Prometheus counters for `/metrics`, from recorded rows;
- `budget`: daily and monthly cost budgets, `/api/monitor/budget` and the webhook alert;
- `otel`: one OpenTelemetry span per exchange (off unless an endpoint is set);
- `cluster`: with a PostgreSQL store, other instances' exchanges reach this instance's live
  dashboards and config changes reach every instance (LISTEN/NOTIFY).

Call it in `create_app` after `monitor.api.setup` (its lifespan needs the store, the recorder
and the event hub). The routes sit under the security middleware like the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from anthropic_proxy.monitor.api import HUB
from anthropic_proxy.ops import otel
from anthropic_proxy.ops.budget import BudgetWatch
from anthropic_proxy.ops.metrics import Metrics
from anthropic_proxy.settings import Settings
from anthropic_proxy.state import STATE
from anthropic_proxy.storage import Row

if TYPE_CHECKING:
    from anthropic_proxy.ops.cluster import ClusterSync


class Listener(Protocol):
    def on_rows(self, rows: Sequence[Row]) -> None:
        """Called from the recorder's writer thread after each committed batch."""


@dataclass
class Operations:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    budget: BudgetWatch | None = None
    tracing: otel.Tracing | None = None
    cluster: ClusterSync | None = None

    async def budget_report(self, request: web.Request) -> web.Response:
        if self.budget is None:
            raise web.HTTPServiceUnavailable(reason="starting")
        return await self.budget.handle(request)


OPERATIONS = web.AppKey("operations", Operations)


def setup(app: web.Application, settings: Settings) -> None:
    ops = app[OPERATIONS] = Operations(settings)
    app.router.add_get("/metrics", ops.metrics.handle)
    app.router.add_get("/api/monitor/budget", ops.budget_report)
    app.cleanup_ctx.append(_lifespan)
    # on_cleanup runs after every cleanup context, so the recorder has drained into the spans.
    app.on_cleanup.append(_flush_spans)


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    state, ops = app[STATE], app[OPERATIONS]
    recorder, settings = state.recorder, ops.settings
    ops.metrics.watch(recorder)
    ops.metrics.watch_routing(state.router.health)
    ops.budget = BudgetWatch(state.store, settings)
    ops.tracing = otel.tracing(
        settings.otel_endpoint, settings.otel_service_name, state.upstream_url
    )
    listeners: list[Listener | None] = [ops.metrics, ops.budget, ops.tracing]
    for listener in listeners:
        if listener is not None:
            recorder.listen(listener.on_rows)
    ops.budget.start()
    if settings.database_url.startswith(("postgres://", "postgresql://")):
        from anthropic_proxy.ops import cluster  # psycopg is the optional [postgres] extra

        ops.cluster = await cluster.start_cluster(state.store, state.config, [_to_hub(app)])
    yield
    if ops.cluster is not None:
        await ops.cluster.stop()
    await ops.budget.stop()


def _to_hub(
    app: web.Application,
) -> tuple[Callable[[Sequence[Row]], None], Callable[[], bool]]:
    """Other instances' rows go to the monitor's hub, looked up late (setup order is free),
    and are read from the database only while some dashboard is subscribed."""

    def deliver(rows: Sequence[Row]) -> None:
        hub = app.get(HUB)
        if hub is not None:
            hub.on_rows(rows)

    def wanted() -> bool:
        hub = app.get(HUB)
        return hub is not None and bool(hub.subscribers)

    return deliver, wanted


async def _flush_spans(app: web.Application) -> None:
    tracing = app[OPERATIONS].tracing
    if tracing is not None:
        await asyncio.to_thread(tracing.shutdown)
