"""The web client's HTTP side: static files, security headers, the Origin check.

``GET /`` (and ``/index.html``, ``/app.js``, ...) answers from ``server/web/static``,
read once at import: the file names form a flat table, so no request path can
reach anything else (``/../x`` is simply not in the table). ``GET /qr.svg``
draws an invite link's QR code (``server/web/qr.py``). Every answer carries

- ``Content-Security-Policy``: scripts, styles, images, audio/video and fonts only
  from this origin (images also ``data:`` and ``blob:``, for previews of a file being
  uploaded), no inline script or style, WebSocket connections only to this host,
  no framing (``frame-ancestors 'none'``), no ``<base>``, no form posts, no plugins;
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` (older browsers), ``Cross-Origin-Opener-Policy``.

**Cross-site WebSocket hijacking.** A browser sends cookies and the page's
``Origin`` with a WebSocket handshake, but no same-origin policy applies to it.
qunguan authenticates with a token inside the connection, not with a cookie, so
a foreign page cannot act as the user; refusing foreign origins still closes the
door on anything ambient (an IP-based allowance, a future cookie) and keeps
other sites from using a visitor's browser to talk to this server.
``origin_allowed`` decides: no ``Origin`` (a non-browser client) is allowed; the
server's own origin (the ``Origin``'s host equals the ``Host`` the handshake came
to) is allowed; so is any origin listed in ``[server] allowed_origins`` (``"*"``
allows every origin). Anything else gets HTTP 403 before the upgrade.

**DNS rebinding.** The Origin check takes the ``Host`` header as the server's own
name, and so does a browser's same-origin policy; a page on a name its author
controls, pointed by DNS at this server's address once the page has loaded, is
"the server's own origin" to both. With ``[server] hostnames`` set, every request
(the WebSocket handshake and every plain-HTTP answer) must name one of them in
``Host``, or an address (a name rebound to an address is always a name), or
``localhost``; anything else gets HTTP 421 (:func:`host_allowed`).

**Methods.** The WebSocket library hands every request to ``process_request``,
whatever its method. The plain-HTTP answers (everything but ``/ws``) are for
``GET`` and ``HEAD`` only: any other method gets 405 with ``Allow: GET, HEAD``
(:func:`method_not_allowed`), and a ``HEAD`` gets the headers of the ``GET``
answer without its body (:func:`finish`, which also puts ``nosniff`` on every
answer).
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import http
import ipaddress
import re
from collections.abc import Coroutine, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.web import qr

__all__ = ["METHODS", "PAGE_CSP", "STATIC_DIR", "finish", "html_page", "http_response", "method_not_allowed",
           "host_allowed", "misdirected", "origin_allowed",
           "refuse_foreign_origin", "static_response"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The methods the plain-HTTP answers take (the WebSocket handshake itself is GET only).
METHODS = ("GET", "HEAD")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

# A Host header we are willing to repeat in a header: a name or address and a port.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


def _load(folder: Path) -> dict[str, tuple[bytes, str, str]]:
    """Each file's body, type and ETag (a digest of the body: a page loaded again asks with
    ``If-None-Match`` and gets a 304 for each file unchanged since, instead of the whole client)."""
    files: dict[str, tuple[bytes, str, str]] = {}
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            ctype = _TYPES.get(f.suffix)
            if f.is_file() and ctype is not None:
                body = f.read_bytes()
                files["/" + f.name] = (body, ctype, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


_FILES = _load(STATIC_DIR)


def csp(host: str) -> str:
    """The Content-Security-Policy for pages served to ``host``."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
        f"font-src 'self'; connect-src 'self' ws://{host} wss://{host}; manifest-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'; "
        # The client never parses markup (user text only ever becomes text nodes): the browser enforces it,
        # so an innerHTML or document.write added by mistake fails at once instead of becoming a way in.
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def security_headers(host: str) -> list[tuple[str, str]]:
    return [
        ("Content-Security-Policy", csp(host)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]


def http_response(status: http.HTTPStatus, body: bytes, ctype: str, cache: str,
                  extra: Iterable[tuple[str, str]] = ()) -> Response:
    """A whole plain-HTTP answer, as every one the server writes itself starts: its date,
    ``Connection: close``, type, length and ``Cache-Control``, then the ``extra`` headers."""
    headers = Headers()
    headers["Date"] = email.utils.formatdate(usegmt=True)
    headers["Connection"] = "close"
    headers["Content-Type"] = ctype
    if status is not http.HTTPStatus.NOT_MODIFIED:  # (a 304 has no body, and no length but the 200's)
        headers["Content-Length"] = str(len(body))
    headers["Cache-Control"] = cache
    for name, value in extra:
        headers[name] = value
    return Response(status.value, status.phrase, headers, body)


def _response(status: http.HTTPStatus, body: bytes, ctype: str, host: str) -> Response:
    return http_response(status, body, ctype, "no-cache", security_headers(host))


# Server-rendered pages without script or style (a group's public information page, server/infopage.py).
PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def html_page(html: str) -> Response:
    """200 with a page the server rendered (escaped text, no script or style), locked down by its headers:
    nothing it could carry may run, load, frame it or be sniffed into something else."""
    return http_response(http.HTTPStatus.OK, html.encode(), "text/html; charset=utf-8", "no-cache", (
        ("Content-Security-Policy", PAGE_CSP), ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")))


def static_response(request: Request) -> Response | Coroutine[None, None, Response] | None:
    """The web client's file for this request, or None when the path is not one of them (``/qr.svg``:
    a coroutine, as the code is drawn off the event loop, see server/web/qr.py)."""
    path = request.path.split("?", 1)[0]
    found = _FILES.get(path)
    if found is None and path != "/qr.svg":
        return None
    hosts = request.headers.get_all("Host")
    host = hosts[0] if len(hosts) == 1 else ""
    if not _HOST.fullmatch(host):
        return _response(http.HTTPStatus.BAD_REQUEST, b"bad Host header\n", "text/plain; charset=utf-8", "localhost")
    if found is None:  # /qr.svg: an invite link's QR code (server/web/qr.py)
        text = qr.text_of(request.path, request.headers.get_all(qr.TEXT_HEADER))
        if text is None:
            return _response(http.HTTPStatus.BAD_REQUEST, f"text: 1 to {qr.MAX_TEXT} characters\n".encode(),
                             "text/plain; charset=utf-8", host)
        return _qr_response(text, host)
    body, ctype, etag = found
    # (no-cache: the browser asks again each time, so a new version is never missed; unchanged, the
    # answer is a 304 without the body)
    asked = {tag.strip().removeprefix("W/") for tag in ",".join(request.headers.get_all("If-None-Match")).split(",")}
    if etag in asked or "*" in asked:
        return http_response(http.HTTPStatus.NOT_MODIFIED, b"", ctype, "no-cache",
                             [("ETag", etag), *security_headers(host)])
    return http_response(http.HTTPStatus.OK, body, ctype, "no-cache", [("ETag", etag), *security_headers(host)])


async def _qr_response(text: str, host: str) -> Response:
    try:
        drawn = await qr.draw(text)
    except qr.Busy:
        return http_response(http.HTTPStatus.SERVICE_UNAVAILABLE, b"too many QR codes asked for at once; try again\n",
                             "text/plain; charset=utf-8", "no-store", (("Retry-After", "1"),))
    # no-store: the text is usually an invite link, a secret (see server/web/qr.py)
    return http_response(http.HTTPStatus.OK, drawn, "image/svg+xml", "no-store", security_headers(host))


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """May a WebSocket handshake carrying ``origin``, sent to ``host``, go ahead?"""
    if origin is None:
        return True  # not a browser: nothing ambient to hijack
    if "*" in allowed:
        return True
    wanted = origin.strip().lower().rstrip("/")
    if any(wanted == a.lower().rstrip("/") for a in allowed):
        return True
    try:
        parts = urlsplit(wanted)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == (host or "").lower()


def host_allowed(hosts: list[str], names: tuple[str, ...]) -> bool:
    """May a request whose ``Host`` headers are ``hosts`` be answered, when this server is reached by
    the host ``names`` (``[server] hostnames``; empty: by any)? An address and ``localhost`` always:
    DNS rebinding needs a name."""
    if not names:
        return True
    if len(hosts) != 1:
        return False
    host = hosts[0].strip().lower()
    if host.startswith("["):  # [IPv6]:port
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.removesuffix(".")
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in names


def misdirected() -> Response:
    """421 for a request naming a host this server is not reached by (``host_allowed``)."""
    return http_response(http.HTTPStatus.MISDIRECTED_REQUEST, b"this server is not reached by that host name\n",
                         "text/plain; charset=utf-8", "no-store", (("X-Content-Type-Options", "nosniff"),))


def refuse_foreign_origin(conn: ServerConnection, request: Request, allowed: tuple[str, ...]) -> Response | None:
    """HTTP 403 for a WebSocket handshake from a page of another origin; None to go on."""
    origins = request.headers.get_all("Origin")
    hosts = request.headers.get_all("Host")
    if len(origins) <= 1 and origin_allowed(origins[0] if origins else None, hosts[0] if len(hosts) == 1 else None,
                                             allowed):
        return None
    return conn.respond(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")


def method_not_allowed() -> Response:
    """405 for a plain-HTTP request whose method is neither GET nor HEAD."""
    return http_response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", "text/plain; charset=utf-8",
                         "no-store", (("Allow", ", ".join(METHODS)), ("X-Content-Type-Options", "nosniff")))


# Sent only when this server speaks TLS itself (server.tls_cert): a browser that saw it never again
# opens the site over plain HTTP, where a first visit could be downgraded and the login's password
# and token read. Behind a proxy that terminates TLS the proxy sends it (examples/nginx.conf).
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def _finished(response: Response, head: bool, tls: bool) -> Response:
    if "X-Content-Type-Options" not in response.headers:
        response.headers["X-Content-Type-Options"] = "nosniff"
    if tls:
        response.headers[HSTS[0]] = HSTS[1]
    # HEAD: the GET answer's headers (its Content-Length included), no body.
    return dataclasses.replace(response, body=b"") if head else response


def finish(answer: Response | Coroutine[None, None, Response], head: bool, tls: bool = False,
           ) -> Response | Coroutine[None, None, Response]:
    """A plain-HTTP answer as it goes out: ``nosniff`` on it (and HSTS when ``tls``: the server
    speaks TLS itself), and without its body for ``HEAD``."""
    if isinstance(answer, Response):
        return _finished(answer, head, tls)

    async def later() -> Response:
        return _finished(await answer, head, tls)

    return later()
