"""The life of a request.

1. `routes` matches the path; `body.read_body` reads it once (413 above the limit, 400 if not JSON).
2. A `Capture` is opened and announced to the recorder (a non-blocking queue put).
3. The router picks the route and its chain of (target, key) steps (`routing/`); `chain.serve`
   tries each step until one answers (failover only before anything reached the client).
   Anthropic-kind step: `passthrough.relay` commits the upstream status and headers, and
   forwards every chunk the moment it arrives, noting only its arrival time. Openai-kind step:
   `backend.client` translates the body (the pure functions in `translate/`) and calls the
   backend; `translated.reply` translates the answer back.
4. When the response ends, fails or the client goes away, the Capture is finished and queued.
   Everything else (parsing, usage, cost, storage) happens in `record/`, off this path.
"""
