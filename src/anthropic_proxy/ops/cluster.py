"""Several instances, one PostgreSQL: live exchanges and config changes cross over LISTEN/NOTIFY.

Why LISTEN/NOTIFY and not Redis pub/sub: the instances already share PostgreSQL, so it adds no
service to deploy, secure and monitor; and `PostgresStore.write` sends its notification inside
the write transaction, so a peer hears of rows only once they are committed and readable.

- Exchanges: each write notifies `{"from": instance, "ids": [...]}` on the schema's channel.
  `ClusterSync` skips its own, reads the other instances' rows and hands them to the listeners
  the recorder has (the monitor's event hub), from a worker thread like the recorder does.
- Config: the editable runtime config lives in the `shared_config` table (`RuntimeConfig.to_json`). A change made here is
  upserted there and notified; the others read it and apply it with `ConfigStore.update`, which
  also rewrites their `config.json`. On start an instance adopts the shared config if there is
  one (the database is the source of truth), else seeds it with its own.

Nothing here is on the proxy's hot path: a slow or unreachable database only delays the live
feed; the listener reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import orjson
import psycopg
from psycopg import sql as pgsql

from anthropic_proxy import tasks
from anthropic_proxy.config.store import EDITABLE, ConfigError, ConfigStore, RuntimeConfig
from anthropic_proxy.storage import COLUMNS, Row
from anthropic_proxy.storage.postgres import PostgresStore
from anthropic_proxy.wire import JSON

log = logging.getLogger("anthropic_proxy.cluster")
Listener = Callable[[Sequence[Row]], None]
Wanted = Callable[[], bool]
LIVE_COLUMNS = COLUMNS
"""What live listeners get of another instance's rows: the `exchanges` row, not the bodies and
headers in `exchange_payloads`, which only the detail view needs (it reads them itself)."""
CONFIG_NAME = "runtime"
RETRY_S = (0.5, 1, 2, 5, 10)


class ClusterSync:
    """Owns one LISTEN connection (an asyncio task) for the exchange and config channels."""

    def __init__(self, store: PostgresStore, config: ConfigStore | None = None) -> None:
        self.store = store
        self.config = config
        self.received = 0
        """Exchange rows received from other instances (for tests and /metrics)."""
        self._listeners: list[tuple[Listener, Wanted]] = []
        self._applied: JSON | None = None
        self._task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    def listen(self, listener: Listener, wanted: Wanted = lambda: True) -> None:
        """Call `listener(rows)` with rows other instances wrote (the recorder's row shape, less
        payloads). Rows are read only while some listener's `wanted()` is true."""
        self._listeners.append((listener, wanted))

    async def start(self) -> None:
        """Adopt or seed the shared config, then listen; returns once LISTEN is in place."""
        if self.config is not None:
            await self._adopt_config(self.config)
            self.config.subscribe(self._config_changed)
        self._task = tasks.spawn(self._listen_forever(), "cluster-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=5)
        await tasks.cancel(self._task)

    # Listening

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                failures = 0 if self._ready.is_set() else failures + 1
                self._ready.clear()
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                log.warning("cluster listener lost the database (%s); retrying in %ss", exc, delay)
                await asyncio.sleep(delay)

    async def _listen(self) -> None:
        channels = {self.store.channel("exchanges"): self._on_exchanges}
        channels[self.store.channel("config")] = self._on_config
        async with await psycopg.AsyncConnection.connect(
            self.store.url, autocommit=True, connect_timeout=10
        ) as conn:
            for name in channels:
                await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(name)))
            self._ready.set()
            async for note in conn.notifies():
                try:
                    await channels[note.channel](note.payload)
                except (psycopg.Error, ValueError, ConfigError) as exc:
                    log.warning("cluster notification on %s not applied: %s", note.channel, exc)

    async def _on_exchanges(self, payload: str) -> None:
        message = orjson.loads(payload)
        if message.get("from") == self.store.instance_id or not message.get("ids"):
            return
        await asyncio.to_thread(self._deliver, list(message["ids"]))

    def _deliver(self, ids: list[str]) -> None:
        listeners = [listener for listener, wanted in self._listeners if wanted()]
        if not listeners:
            return
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT {', '.join(LIVE_COLUMNS)} FROM exchanges WHERE id IN ({marks})"
        rows = self.store.fetch(sql, ids)
        self.received += len(rows)
        for listener in listeners:
            listener(rows)

    async def _on_config(self, payload: str) -> None:
        if payload == self.store.instance_id or self.config is None:
            return
        shared = await asyncio.to_thread(self._read_shared)
        if shared is not None:
            self._apply(self.config, shared)

    # Config

    async def _adopt_config(self, config: ConfigStore) -> None:
        await asyncio.to_thread(self._seed_shared, config.runtime.to_json())
        shared = await asyncio.to_thread(self._read_shared)
        try:
            if shared is not None:
                self._apply(config, shared)
        except ConfigError as exc:
            log.warning("shared config not adopted, keeping this instance's: %s", exc)

    def _apply(self, config: ConfigStore, shared: JSON) -> None:
        """Make the local config equal to the shared one; our own listener then sees no change."""
        self._applied = shared
        # The shared config was written by an instance that enforced the base-URL rule.
        config.update(as_patch(config.runtime, shared), redirect_allowed=True)

    def _config_changed(self, runtime: RuntimeConfig) -> None:
        """ConfigStore listener (event loop thread): publish a local change to the others."""
        value = runtime.to_json()
        if value == self._applied:
            return
        self._applied = value
        task = tasks.spawn(
            asyncio.to_thread(self._publish, value), "cluster-publish", log_failure=False
        )
        self._publishing.add(task)
        task.add_done_callback(self._published)

    def _published(self, task: asyncio.Task[None]) -> None:
        self._publishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("config change not shared with other instances: %s", task.exception())

    def _publish(self, value: JSON) -> None:
        self.store.execute(
            "INSERT INTO shared_config (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            [CONFIG_NAME, orjson.dumps(value).decode(), time.time(), self.store.instance_id],
        )
        self.store.execute(
            "SELECT pg_notify(?, ?)", [self.store.channel("config"), self.store.instance_id]
        )

    def _seed_shared(self, value: JSON) -> None:
        self.store.execute(
            "INSERT INTO shared_config (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            [CONFIG_NAME, orjson.dumps(value).decode(), time.time(), self.store.instance_id],
        )

    def _read_shared(self) -> JSON | None:
        rows = self.store.fetch("SELECT value FROM shared_config WHERE name = ?", [CONFIG_NAME])
        value = orjson.loads(rows[0]["value"]) if rows else None
        return value if isinstance(value, dict) else None


def as_patch(current: RuntimeConfig, target: JSON) -> JSON:
    """A patch turning `current` into `target` (the shared JSON): `update` merges mappings, so
    families that `target` no longer has are sent as null (the config API's way to delete one)."""
    patch: JSON = {k: v for k, v in target.items() if k in EDITABLE}
    router = patch.get("openrouter")
    if isinstance(router, dict) and isinstance(router.get("modelMapping"), dict):
        old = current.backend.mapping.families
        gone = {family: None for family in old if family not in router["modelMapping"]}
        patch["openrouter"] = {**router, "modelMapping": {**gone, **router["modelMapping"]}}
    return patch


async def start_cluster(
    store: object,
    config: ConfigStore | None,
    listeners: Sequence[tuple[Listener, Wanted]] = (),
) -> ClusterSync | None:
    """A started ClusterSync when the store is PostgreSQL, else None."""
    if not isinstance(store, PostgresStore):
        return None
    sync = ClusterSync(store, config)
    for listener, wanted in listeners:
        sync.listen(listener, wanted)
    await sync.start()
    return sync
