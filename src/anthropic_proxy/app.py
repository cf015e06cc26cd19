"""create_app(settings): the route table and the lifespan of every shared object."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from anthropic_proxy import ops, security
from anthropic_proxy.backend.api import BackendApi
from anthropic_proxy.backend.catalog import ModelCatalog
from anthropic_proxy.backend.client import TranslationContext
from anthropic_proxy.config.api import ConfigApi
from anthropic_proxy.config.routing_api import RoutingApi
from anthropic_proxy.config.store import ConfigStore, RuntimeConfig
from anthropic_proxy.errors import BadRequest, NotFound, ProxyError, TooLarge, error_response
from anthropic_proxy.framework import body_error
from anthropic_proxy.monitor import api as monitor_api
from anthropic_proxy.proxy import routes as proxy_routes
from anthropic_proxy.record import journal, writer
from anthropic_proxy.record.process import ProcessRunner, Runner, Spec, ThreadRunner
from anthropic_proxy.record.recorder import Recorder
from anthropic_proxy.routing import preset
from anthropic_proxy.routing.model import Routing
from anthropic_proxy.routing.router import Router
from anthropic_proxy.settings import DEFAULT_UPSTREAM, Settings, env_values, is_loopback
from anthropic_proxy.state import STATE, AppState
from anthropic_proxy.storage import Store, open_store

log = logging.getLogger("anthropic_proxy")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ERRORS_BY_STATUS: dict[int, type[ProxyError]] = {404: NotFound, 405: NotFound, 413: TooLarge}


def upstream_urls(settings: Settings) -> tuple[str, ...]:
    """ANTHROPIC_UPSTREAM_URL (`URL1,URL2`: a failover chain), else the seed's
    ANTHROPIC_BASE_URL unless it points back at us, else the Anthropic API."""
    if settings.upstream_url:
        return preset.upstream_urls(settings.upstream_url) or (DEFAULT_UPSTREAM,)
    legacy = settings.legacy_base_url
    if legacy and not points_at(legacy, settings.host, settings.port):
        return (legacy.rstrip("/"),)
    if legacy:
        log.info("ignoring ANTHROPIC_BASE_URL=%s: it points at this proxy", legacy)
    return (DEFAULT_UPSTREAM,)


def upstream_url(settings: Settings) -> str:
    return upstream_urls(settings)[0]


def _router(config: ConfigStore) -> Router:
    """The live routing, rebuilt whenever the config changes (keys re-read from the env)."""
    routing = config.routing()
    router = Router(routing, env_values(_key_names(routing)))

    def rebuild(_: object) -> None:
        routing = config.routing()
        router.replace(routing, env_values(_key_names(routing)))

    config.subscribe(rebuild)
    return router


def _key_names(routing: Routing) -> list[str]:
    return [name for p in routing.providers.values() for name in p.key_env]


def points_at(url: str, host: str, port: int) -> bool:
    parts = urlsplit(url)
    name = parts.hostname or ""
    same_host = is_loopback(name) or name in {"0.0.0.0", host}  # 0.0.0.0 reaches us too
    default_port = 443 if parts.scheme == "https" else 80
    return same_host and (parts.port or default_port) == port


@web.middleware
async def anthropic_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error a client sees has Anthropic's shape, including aiohttp's own 404/405/413."""
    try:
        return await handler(request)
    except ProxyError as error:
        return error_response(error)
    except HttpProcessingError as exc:  # a body aiohttp could not parse, met while reading it
        return error_response(body_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_class = ERRORS_BY_STATUS.get(exc.status, BadRequest)
        message = f"{exc.reason}: {request.method} {request.path}"
        return error_response(error_class(message, status=exc.status))


def create_app(settings: Settings) -> web.Application:
    middlewares = [security.middleware(settings), anthropic_errors]  # the guard is outermost
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app.on_response_prepare.append(security.strip_cors)
    config = ConfigStore(settings.data_path / "config.json", settings, upstream_urls(settings))
    app.router.add_routes(proxy_routes.routes())
    catalog = ModelCatalog(config, lambda: app[STATE].session)  # config API + translated edge
    app.router.add_routes(ConfigApi(config).routes())
    app.router.add_routes(RoutingApi(config, lambda: app[STATE].router, catalog.client).routes())
    app.router.add_routes(BackendApi(config, catalog.client, catalog).routes())
    app.cleanup_ctx.append(lambda app: _lifespan(app, settings, config, catalog))
    monitor_api.setup(app, settings)  # pages, /api/monitor/*, live events
    ops.setup(app, settings)  # /metrics, budgets, OTel spans, multi-instance sync
    return app


async def _lifespan(
    app: web.Application, settings: Settings, config: ConfigStore, catalog: ModelCatalog
) -> AsyncIterator[None]:
    data = settings.data_path
    store = open_store(settings.database_url, data)
    await asyncio.to_thread(store.open)
    interrupted = await asyncio.to_thread(store.mark_interrupted)
    if interrupted:
        log.warning(
            "%d exchanges were pending when the proxy last stopped; marked interrupted", interrupted
        )
    recorder = await asyncio.to_thread(_recorder, settings, store)
    recorder.start(_runner(settings, store, recorder))
    session = _client_session(settings)
    state = AppState(
        settings=settings,
        config=config,
        store=store,
        recorder=recorder,
        session=session,
        upstream_url=upstream_url(settings),
        hop_token=secrets.token_hex(8),
        router=_router(config),
        translation=TranslationContext(
            session=session, settings=settings, config=config, catalog=catalog
        ),
    )
    app[STATE] = state
    stop_warming = _warm_model_list(config, catalog)
    yield
    stop_warming()
    await catalog.close()
    await session.close()
    await recorder.stop()
    recorder.journal.close()
    await asyncio.to_thread(store.close)


def _warm_model_list(config: ConfigStore, catalog: ModelCatalog) -> Callable[[], None]:
    """The backend's model list (output limits) loads at start-up and whenever translation is
    switched on, so the first translated request is already clamped."""

    def warm(runtime: RuntimeConfig) -> None:
        if runtime.mode == "openrouter":
            with contextlib.suppress(RuntimeError):  # a change applied outside the event loop
                catalog.warm(runtime.backend.base_url)

    warm(config.runtime)
    return config.subscribe(warm)


def _recorder(settings: Settings, store: Store) -> Recorder:
    """A recorder whose journal starts empty, after replaying what a crash left in it."""
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    leftover = journal.leftovers(data)
    entries = [entry for file in leftover for entry in journal.replay(file)]
    if entries:
        recovered = writer.recover(_spec(settings).writer(store), entries)
        log.warning("recovered %d exchanges from the crash journal", recovered)
    for file in leftover:
        file.unlink()
    return Recorder(
        journal.Journal(data),
        size=settings.record_queue_size,
        max_queued_bytes=settings.record_queue_bytes,
    )


def _spec(settings: Settings) -> Spec:
    return Spec(
        database_url=settings.database_url,
        data_dir=str(settings.data_path),
        scrub=settings.scrub_secrets,
        retention=(settings.max_records, settings.max_age_s, settings.max_db_bytes),
        log_level=settings.log_level,
    )


def _runner(settings: Settings, store: Store, recorder: Recorder) -> Runner:
    if settings.recorder_process:
        return ProcessRunner(_spec(settings), recorder.on_report, recorder.on_exit)
    return ThreadRunner(_spec(settings), store, recorder.on_report)


def _client_session(settings: Settings) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=settings.connect_timeout_ms / 1000,
        sock_read=settings.request_timeout_ms / 1000,
    )
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
