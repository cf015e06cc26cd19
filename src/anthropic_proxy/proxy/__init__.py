"""The life of a request.

1. `routes` matches the path; `body.read_body` reads it once (413 above the limit, 400 if not JSON).
2. A `Capture` is opened and announced to the recorder (a non-blocking queue put).
3. The router picks the route and its chain of (target, key) steps (`routing/`). Pass-through:
   `chain.relay` opens each step's upstream request until one answers (failover only before
   anything reached the client), then `passthrough.relay` commits the upstream status and
   headers, and forwards every chunk the moment it arrives, noting only its arrival time.
   Translation: `translated.serve_messages` has `backend.client` translate the body (the pure
   functions in `translate/`) and call the backend, then translates the reply back.
4. When the response ends, fails or the client goes away, the Capture is finished and queued.
   Everything else (parsing, usage, cost, storage) happens in `record/`, off this path.
"""
