"""The runtime config: what an operator can change while the proxy runs.

`store.ConfigStore` holds it (seed-compatible JSON, atomic `config.json`, no secrets) and tells
subscribers when it changes; `validate` checks patches field by field; `api.ConfigApi` serves
`/api/config` (the routes that call the backend live in `backend/api.py`).
"""
