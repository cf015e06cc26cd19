#!/usr/bin/env python3
"""Bare aiohttp relay: the Python floor that anthropic-proxy is compared with.
Streams the request body up and the response body down, records nothing."""

import argparse
from collections.abc import AsyncIterator, Mapping

import aiohttp
import uvloop
from aiohttp import web

HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    )
)


def end_to_end(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


async def relay(request: web.Request) -> web.StreamResponse:
    headers = end_to_end(request.headers)
    if request.content_length is not None:
        headers["Content-Length"] = str(request.content_length)
    session: aiohttp.ClientSession = request.app["session"]
    async with session.request(
        request.method,
        request.app["upstream"] + request.raw_path,
        headers=headers,
        data=request.content if request.body_exists else None,
    ) as up:
        resp = web.StreamResponse(status=up.status, headers=end_to_end(up.headers))
        if up.content_length is not None:
            resp.content_length = up.content_length
        await resp.prepare(request)
        async for piece in up.content.iter_any():
            await resp.write(piece)
        await resp.write_eof()
        return resp


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    app["session"] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
    )
    yield
    await app["session"].close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18201)
    ap.add_argument("--upstream", default="http://127.0.0.1:18200")
    a = ap.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["upstream"] = a.upstream.rstrip("/")
    app.router.add_route("*", "/{tail:.*}", relay)
    app.cleanup_ctx.append(session_ctx)
    web.run_app(
        app,
        host="127.0.0.1",
        port=a.port,
        access_log=None,
        print=None,
        backlog=4096,
        loop=uvloop.new_event_loop(),
    )
