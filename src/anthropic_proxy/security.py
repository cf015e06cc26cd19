"""The web surface's guards, as one aiohttp middleware plus a response hook.

1. Host allow-list (DNS rebinding): loopback names, IP literals (they cannot be rebound), the
   bound host and ALLOWED_HOSTS. Checked on every route when bound to loopback; off loopback
   the proxy routes are reachable by design and the token guards the rest.
2. CSRF: a request that can change state (anything but GET/HEAD/OPTIONS) with a foreign
   `Origin` (or, without one, `Sec-Fetch-Site: cross-site`) is refused, proxy routes included:
   a cross-site page must not spend the user's credits either.
3. Access token: required for pages and APIs when bound off loopback or when one is set;
   `Authorization: Bearer <token>`, or the cookie set by visiting a page with `?token=`.
   Claude Code's routes (`/v1/*`, `/health`, `HEAD /`, its probes) never need it.
4. No `Access-Control-Allow-Origin: *` ever leaves, whoever set it (`strip_cors`); pages get a
   strict Content-Security-Policy (scripts only from this origin, no inline code).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from anthropic_proxy.config import destinations
from anthropic_proxy.errors import Forbidden, ProxyError, Unauthorized, error_response
from anthropic_proxy.settings import LOOPBACK_NAMES, Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROXY_PREFIXES = ("/v1/", "/api/event_logging/")
PROXY_PATHS = frozenset({"/health", "/api/hello"})
COOKIE = "anthropic_proxy_token"
LOGIN_PAGE = Path(__file__).parent / "web" / "login.html"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_proxy_route(request: web.Request) -> bool:
    """Routes Claude Code itself calls: never behind the dashboard token."""
    path = request.path
    if path.startswith(PROXY_PREFIXES) or path in PROXY_PATHS:
        return True
    return path == "/" and request.method == "HEAD"


def host_name(host: str) -> str:
    """'Example.COM:8082' -> 'example.com'; '[::1]:8082' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    def __init__(self, settings: Settings) -> None:
        self.token = settings.auth_token
        self.token_required = bool(settings.auth_token) or not settings.is_loopback
        self.check_proxy_hosts = settings.is_loopback
        extra = {host_name(h) for h in settings.allowed_hosts.split(",") if h.strip()}
        self.hosts = LOOPBACK_NAMES | extra | {host_name(settings.host)}

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        return name in self.hosts or _is_ip(name)

    def check(self, request: web.Request) -> None:
        """Raise the ProxyError the request deserves, if any."""
        proxy = is_proxy_route(request)
        if (self.check_proxy_hosts or not proxy) and not self.host_allowed(request.host):
            raise Forbidden(
                f"Host {request.host!r} is not allowed (DNS rebinding guard); add it to ALLOWED_HOSTS"
            )
        if request.method not in SAFE_METHODS and is_cross_site(request):
            raise Forbidden("cross-site request refused: the Origin does not match this server")
        public = proxy or request.path.startswith("/static/")  # assets hold no data
        if public:
            return
        if self.token and self.authorized(request, is_login(request)):
            request[destinations.OPERATOR] = True  # may move traffic (config/destinations.py)
        elif self.token_required:
            raise Unauthorized(
                "an access token is required: send Authorization: Bearer <token>, or open /monitor?token=<token>"
            )

    def authorized(self, request: web.Request, login: bool) -> bool:
        if not self.token:
            return (
                False  # off loopback without a token: the CLI refuses to start; fail closed anyway
            )
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # The query form only on page logins: a token in API URLs would end up in logs.
        candidates = [
            request.cookies.get(COOKIE, ""),
            request.query.get("token", "") if login else "",
        ]
        if scheme.lower() == "bearer":
            candidates.append(given.strip())
        return any(c and hmac.compare_digest(c.encode(), self.token.encode()) for c in candidates)


def is_login(request: web.Request) -> bool:
    """A page visit carrying ?token=: the one place the token may travel in a URL."""
    return (
        request.method == "GET"
        and "token" in request.query
        and not request.path.startswith("/api/")
        and not is_proxy_route(request)
    )


def is_cross_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site", "") == "cross-site"
    parts = urlsplit(origin)
    return origin == "null" or parts.netloc.lower() != request.host.lower()


def middleware(
    settings: Settings,
) -> Middleware:
    """The guard as an aiohttp middleware; put it first (outermost) in the list."""
    guard = Guard(settings)

    @web.middleware
    async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            guard.check(request)
        except ProxyError as error:
            return refusal(request, error)
        if guard.token_required and is_login(request):
            return _login(request)
        return await handler(request)

    return guard_middleware


def refusal(request: web.Request, error: ProxyError) -> web.StreamResponse:
    if isinstance(error, Unauthorized) and "text/html" in request.headers.get("Accept", ""):
        return web.FileResponse(LOGIN_PAGE, status=401, headers={"Cache-Control": "no-store"})
    return error_response(error)


def _login(request: web.Request) -> web.StreamResponse:
    """A valid ?token= on a page: keep it in a cookie, then drop it from the address bar."""
    token = request.query["token"]
    target = request.rel_url.without_query_params("token")
    response = web.Response(status=302, headers={"Location": str(target)})
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", path="/", secure=request.secure
    )
    return response


async def strip_cors(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: drop wildcard CORS (the one upstream header we do not pass on:
    it would let any web page read this local endpoint); add the page headers off proxy routes."""
    if response.headers.get("Access-Control-Allow-Origin") == "*":
        del response.headers["Access-Control-Allow-Origin"]
        response.headers.popall("Access-Control-Allow-Credentials", None)
    if not is_proxy_route(request):
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
