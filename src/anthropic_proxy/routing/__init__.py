"""Providers, routes and failover: which upstream serves a request, and what to do when it says no.

    model    the nouns: Provider, Target, Match, Route, Routing (frozen, validated)
    load     JSON (config.json `providers` / `routes`) -> Routing, with per-field errors
    preset   the seed's `proxyMode` + `openrouter.*` and `--upstream URL1,URL2` as a Routing
    match    request traits (model, subagent, thinking, tools, size) -> the Route that serves it
    failover the verdict on one attempt: serve it, try the next key, or the next target
    health   circuit breakers per target and key pools per provider (mutable, clock injected)

Everything here is pure except `health`, which keeps state but does no I/O. The I/O lives in
`proxy/` (pass-through and translated handlers walk the chain).
"""
