"""Usage insight: where the tokens, the money and the subscription quota go.

Reads what the recorder stored (nothing here runs on the proxy's hot path), for the dashboard's
`/api/monitor/quota` and `/api/monitor/usage` and for the `report` and `statusline` commands.

- `quota`: rate-limit windows as last read, shares per session and project, run-out forecast.
- `report`: daily / weekly / monthly / session / project / tag / 5-hour-block reports.
- `table`: the reports as a terminal table.
- `statusline`: the one line Claude Code's `statusLine` setting shows.
- `commands`: the `report` and `statusline` command lines.
"""
