"""The monitor: what the dashboard and its JSON API see of the recorded exchanges.

Everything here reads the store after the fact; nothing runs on the proxy's hot path.

- `queries`: request filters -> portable SQL; list summaries and the detail of one exchange.
- `stats`: counts, rates, percentiles, tokens, cost and time buckets for the same filters.
- `events`: the EventHub fed by the recorder's writer thread, and the SSE feed built on it.
- `export`: JSON, JSONL and CSV exports streamed in pages, plus the lossless dedup format.
- `analyze`: the analysis report (JSON; the HTML view is a static page rendering it).
- `sessions`: Claude Code sessions as agent trees, and prompt-cache diagnostics per turn.
- `anatomy`: what each request's input tokens are made of (system, tools, turns, results).
- `anatomy_totals`: those vectors kept in the store, summed over a range, read per turn.
- `api`: the aiohttp handlers, the route table and `setup(app)`.
"""
