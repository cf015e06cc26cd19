"""What the running app shares between handlers, built once in `app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

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
    new_id: ExchangeIds = field(default_factory=ExchangeIds)
    translation: Any = None
    hub: Any = None


STATE = web.AppKey("state", AppState)
