"""Recording, off the hot path and out of the proxy's process.

The proxy hands each finished `Capture` to the `Recorder`, which appends it to the `journal`
(one writev). The journal on disk is the backlog: bounded by RECORD_QUEUE_BYTES (4 GB by default)
and by free disk space, by count only if RECORD_QUEUE_SIZE sets one; beyond that records are
dropped and counted.
The recorder process (`process`, nice 19) reads the journal back and `writer` turns each batch into
rows: `response` rebuilds the message and the event timeline from the raw bytes, `pricing` prices
the usage, `build` assembles the row and the content-addressed body parts, and the store writes
the batch in one transaction. Its report of each batch frees the journal and reaches the listeners
(the dashboard's event hub, metrics, budgets, traces) on the proxy's event loop.
"""
