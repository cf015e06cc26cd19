"""Team-scale add-ons, attached to the app in one call: `setup(app, settings)`.

- `/metrics` (Prometheus, `monitor.metrics`) and `/api/monitor/budget` (`monitor.budget`);
- budget alerts, OpenTelemetry spans (`record.otel`) and metrics, as recorder listeners;
- with a PostgreSQL store, `storage.notify.ClusterSync`: other instances' exchanges reach this
  instance's live dashboards and config changes reach every instance.

Call it in `create_app` after `monitor.api.setup` (its lifespan needs the store, the recorder
and the event hub). The routes sit under the monitor's security middleware like the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from anthropic_proxy.monitor.api import HUB
from anthropic_proxy.monitor.budget import BudgetWatch
from anthropic_proxy.monitor.metrics import Metrics
from anthropic_proxy.record import otel
from anthropic_proxy.settings import Settings
from anthropic_proxy.state import STATE
from anthropic_proxy.storage import Row

if TYPE_CHECKING:
    from anthropic_proxy.storage.notify import ClusterSync


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
    recorder.listen(ops.metrics.on_rows)
    ops.budget = BudgetWatch(state.store, settings)
    ops.budget.start()
    recorder.listen(ops.budget.on_rows)
    ops.tracing = otel.tracing(
        settings.otel_endpoint, settings.otel_service_name, state.upstream_url
    )
    if ops.tracing is not None:
        recorder.listen(ops.tracing.on_rows)
    if settings.database_url.startswith(("postgres://", "postgresql://")):
        from anthropic_proxy.storage import notify  # psycopg is the optional [postgres] extra

        ops.cluster = await notify.start_cluster(state.store, state.config, [_to_hub(app)])
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
