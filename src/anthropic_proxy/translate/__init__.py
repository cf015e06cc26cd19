"""Translation mode, pure: Anthropic Messages in, OpenAI chat completions out, and back.

Nothing here does I/O, logs, or imports aiohttp; `backend/client.py` and `proxy/translated.py`
are the edge that does.

1. `models.resolve` picks the backend model for the name Claude Code asked for.
2. `request.anthropic_to_openai_request` builds the chat request (`messages` does the turns),
   listing every field it dropped, renamed or clamped.
3. `stream.anthropic_events` turns upstream chunks into Anthropic events, one async generator;
   `response.openai_to_anthropic_message` runs a non-stream reply through the same generator.
4. `errors` maps upstream failures to Anthropic statuses and types; `usage` maps token counts;
   `tokens` estimates input tokens offline for count_tokens and for backends without usage.
5. `reasoning` packs provider reasoning state into thinking signatures so it survives the round
   trip through Claude Code; `arguments` repairs tool-call JSON.
"""
