"""What the running app shares between handlers, built once in `app.create_app`'s lifespan.

Add-ons keep their own state under their own AppKey (`monitor.api.HUB`, `ops.OPERATIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from anthropic_proxy.backend.client import TranslationContext
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.exchange import ExchangeIds
from anthropic_proxy.record.recorder import Recorder
from anthropic_proxy.routing.router import Router
from anthropic_proxy.settings import Settings
from anthropic_proxy.storage import Store


@dataclass
class AppState:
    settings: Settings
    config: ConfigStore
    store: Store
    recorder: Recorder
    session: aiohttp.ClientSession
    upstream_url: str
    """The first of the seed's Anthropic upstreams (`--upstream URL1,URL2`)."""
    hop_token: str
    router: Router
    translation: TranslationContext
    new_id: ExchangeIds = field(default_factory=ExchangeIds)


STATE = web.AppKey("state", AppState)
