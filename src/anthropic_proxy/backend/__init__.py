"""Talking to a translation backend (an OpenAI-compatible API such as OpenRouter).

`client` builds and sends one call (target, key, headers, translated body) and maps aiohttp
failures to ProxyErrors; `catalog` caches the backend's model list; `selftest` runs the
compatibility battery through the same client; `api` serves the config page's calls to the
backend (key check, model list, self-test). The translated route (`proxy/translated.py`) uses
this package; it uses `translate/` and `config/`, never `proxy/`.
"""
