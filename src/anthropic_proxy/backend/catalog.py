"""The backend's model list (`GET {base}/v1/models`), cached per base URL and shared by the config
API (`/api/config/models`) and the translated edge (max_tokens clamp E36, image support E8).

Each base URL's list is fetched at most once per `ttl_s` (an hour). The config API may wait for a
fetch (`models`). The list is loaded at start-up and whenever translation is switched on (`warm`),
and a stale list is served while it refreshes in the background (`lookup`). Only the first
request to a base URL whose list is not cached yet waits for it, at most `first_wait_s` (`ready`):
without the list it would go out unclamped (`max_tokens` 128000 where the model allows 64000)
and a backend that enforces the limit answers 400. A failed fetch is not retried for `retry_s`,
so a backend without `/models` costs one call a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
import orjson

from anthropic_proxy.config.runtime import Attribution
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.tasks import spawn
from anthropic_proxy.wire import JSON, obj

log = logging.getLogger("anthropic_proxy.backend")
MODELS_TTL_S: Final = 3600.0
RETRY_S: Final = 60.0
FIRST_WAIT_S: Final = 5.0
PROBE_TIMEOUT: Final = aiohttp.ClientTimeout(total=20)


class ModelListError(Exception):
    """Listing the backend's models failed; `message` says why (HTTP status or network)."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the translation needs to know about one backend model; None = not stated."""

    max_completion_tokens: int | None = None
    images: bool | None = None
    """Whether `architecture.input_modalities` lists `image`; None when the list is absent."""


def model_info(entry: JSON) -> ModelInfo:
    top = obj(entry.get("top_provider"))
    limit = top.get("max_completion_tokens")
    modalities = obj(entry.get("architecture")).get("input_modalities")
    return ModelInfo(
        max_completion_tokens=limit if isinstance(limit, int) and limit > 0 else None,
        images="image" in modalities if isinstance(modalities, list) else None,
    )


async def get_json(
    session: aiohttp.ClientSession, url: str, key: str, attribution: Attribution
) -> tuple[int, JSON]:
    """GET `url` with the backend key and attribution headers; status 0 when unreachable."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers |= {"HTTP-Referer": attribution.http_referer, "X-Title": attribution.title}
    try:
        async with session.get(url, headers=headers, timeout=PROBE_TIMEOUT) as response:
            raw = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return 0, {"error": {"message": f"backend unreachable: {exc}"}}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = {"error": {"message": raw[:200].decode("utf-8", "replace")}}
    return status, data if isinstance(data, dict) else {}


def upstream_message(data: JSON, status: int) -> str:
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or f"HTTP {status}")


@dataclass(slots=True)
class _Entry:
    fetched_at: float
    models: list[JSON]
    by_id: dict[str, ModelInfo]


class ModelCatalog:
    """One per app. `client` returns the app's shared ClientSession (created at startup)."""

    def __init__(
        self,
        store: ConfigStore,
        client: Callable[[], aiohttp.ClientSession],
        clock: Callable[[], float] = time.monotonic,
        ttl_s: float = MODELS_TTL_S,
        retry_s: float = RETRY_S,
        first_wait_s: float = FIRST_WAIT_S,
    ) -> None:
        self.store, self.client, self.clock = store, client, clock
        self.ttl_s, self.retry_s, self.first_wait_s = ttl_s, retry_s, first_wait_s
        self._lists: dict[str, _Entry] = {}
        self._failed: dict[str, float] = {}
        self._fetching: dict[str, asyncio.Task[_Entry]] = {}
        self._waited: set[str] = set()
        self._keys: dict[str, str] = {}
        """A routed provider's own key, by its base URL (never sent to another base)."""

    def warm(self, base: str) -> None:
        """Start loading `base`'s list in the background unless it is cached or failed lately."""
        self.lookup(base, "")

    async def ready(self, base: str, key: str = "") -> None:
        """Before a request: if `base`'s list is not cached, wait for it briefly, once per base
        URL (a backend whose /models hangs delays one request, not every one). `key`: a routed
        provider's own key, used to list `base`'s models (else the operator's, if trusted)."""
        if key:
            self._keys[base] = key
        if base in self._lists or base in self._waited:
            return
        self._waited.add(base)
        self.warm(base)
        task = self._fetching.get(base)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), self.first_wait_s)

    async def models(self, base: str) -> list[JSON]:
        """The list for `base`, fetched now (or joined) if missing or stale; ModelListError."""
        entry = self._lists.get(base)
        if entry is None or self._stale(entry):
            entry = await asyncio.shield(self._fetch(base))
        return entry.models

    def lookup(self, base: str, model: str) -> ModelInfo | None:
        """What is known about `model` right now, never waiting: None if the list is not cached
        yet (a background fetch starts) or does not name the model."""
        entry = self._lists.get(base)
        if entry is None or self._stale(entry):
            failed = self._failed.get(base)
            if failed is None or self.clock() - failed > self.retry_s:
                self._fetch(base).add_done_callback(_quiet)
        return entry.by_id.get(model) if entry is not None else None

    async def close(self) -> None:
        """Cancel fetches still running (at shutdown, before the session closes)."""
        tasks = list(self._fetching.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    def _stale(self, entry: _Entry) -> bool:
        return self.clock() - entry.fetched_at > self.ttl_s

    def _fetch(self, base: str) -> asyncio.Task[_Entry]:
        """The one fetch in flight for `base`, started if there is none."""
        task = self._fetching.get(base)
        if task is None:
            task = spawn(self._download(base), f"models-{base}", log_failure=False)
            self._fetching[base] = task
            task.add_done_callback(lambda _: self._fetching.pop(base, None))
        return task

    async def _download(self, base: str) -> _Entry:
        url = f"{base}/v1/models"
        key = self._keys.get(base) or self.store.backend_key(url)
        status, data = await get_json(self.client(), url, key, self.store.attribution)
        if status != 200:
            self._failed[base] = self.clock()
            raise ModelListError(f"listing models failed: {upstream_message(data, status)}")
        models = [m for m in data.get("data") or [] if isinstance(m, dict)]
        by_id = {str(m.get("id")): model_info(m) for m in models if m.get("id")}
        entry = _Entry(self.clock(), models, by_id)
        self._lists[base] = entry
        self._failed.pop(base, None)
        return entry


def _quiet(task: asyncio.Task[_Entry]) -> None:
    """A background fetch's failure is logged, never raised into a request."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.info("model list unavailable, translating without it: %s", error)
