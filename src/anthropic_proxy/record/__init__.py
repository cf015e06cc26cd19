"""Recording, off the hot path.

The proxy hands `Capture`s to the `Recorder` (a bounded queue; full means dropped and counted).
One writer thread turns them into rows: `response` rebuilds the message and the event timeline
from the raw bytes, `pricing` prices the usage, `build` assembles the row and the content-addressed
body parts, and the store writes a whole batch in one transaction. Listeners (the dashboard's
event hub, the access log) hear about each batch afterwards.
"""
