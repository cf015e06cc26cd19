"""The runtime config: what an operator can change while the proxy runs.

`runtime.RuntimeConfig` is the config as a frozen value (snake_case; camelCase only in its JSON
form); `store.ConfigStore` holds the current one (seed-compatible JSON in an atomic
`config.json`, no secrets) and tells subscribers when it changes; `validate` checks patches
field by field and produces the new value; `api.ConfigApi` serves `/api/config` (the routes
that call the backend live in `backend/api.py`).
"""
