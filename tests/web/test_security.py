"""The web client's HTTP side: files and security headers, and the Origin check on WebSocket handshakes."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.config import ConfigError, parse_config
from server.web.routes import origin_allowed
from tests.e2e.harness import ServerProcess


def _get(srv: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}{path}", timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_pages_are_served_with_strict_headers(server: ServerProcess) -> None:
    status, headers, body = _get(server, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/app.js">' in body
    csp = headers["Content-Security-Policy"]
    for part in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                 f"connect-src 'self' ws://127.0.0.1:{server.port} wss://127.0.0.1:{server.port}", "object-src 'none'",
                 "require-trusted-types-for 'script'", "trusted-types 'none'"):
        assert part in csp
    assert "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers  # (plain HTTP: only a server speaking TLS sends it)
    for path, ctype in (("/app.js", "text/javascript; charset=utf-8"), ("/style.css", "text/css; charset=utf-8"),
                        ("/logo.svg", "image/svg+xml"), ("/index.html", "text/html; charset=utf-8")):
        status, headers, body = _get(server, path)
        assert (status, headers["Content-Type"]) == (200, ctype) and body
        assert "Content-Security-Policy" in headers and headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/nope.js", "/../pyproject.toml", "/static/app.js", "/routes.py", "/%2e%2e/server/app.py"):
        assert _get(server, path)[0] == 404, path
    assert _get(server, "/healthz")[0] == 200  # the rest of the HTTP side is unchanged


def test_a_file_the_browser_has_is_answered_304_without_its_body(server: ServerProcess) -> None:
    """No validator was sent: every reload fetched the whole client (about 520 KB) again."""
    status, headers, body = _get(server, "/app.js")
    etag = headers["ETag"]
    assert status == 200 and etag.startswith('"') and headers["Cache-Control"] == "no-cache"
    for asked in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        req = urllib.request.Request(f"http://127.0.0.1:{server.port}/app.js", headers={"If-None-Match": asked})
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("answered 200")
        except urllib.error.HTTPError as err:
            assert err.code == 304 and err.read() == b"" and err.headers["ETag"] == etag, asked
            assert err.headers["X-Content-Type-Options"] == "nosniff" and "Content-Length" not in err.headers
    other = urllib.request.Request(f"http://127.0.0.1:{server.port}/app.js", headers={"If-None-Match": '"old"'})
    with urllib.request.urlopen(other, timeout=10) as r:
        assert r.status == 200 and r.read() == body
    assert _get(server, "/style.css")[1]["ETag"] != etag  # (one per file)


def _raw(srv: ServerProcess, method: str, path: str) -> tuple[str, dict[str, str], bytes]:
    """One request on its own connection; (status line, headers, every byte after them until the server closes)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}, body


def test_only_get_and_head_are_answered(server: ServerProcess) -> None:
    """The WebSocket library passes requests of every method to the server: a POST, PUT, DELETE or OPTIONS
    of a page, a media URL, an info page or a probe is refused (405), and a HEAD gets the GET answer's
    headers without its body."""
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"):
        for path in ("/", "/app.js", "/qr.svg?text=x", "/media/abc?e=1&s=x", "/groups/123456789", "/healthz",
                     "/readyz", "/nope"):
            status, headers, body = _raw(server, method, path)
            assert status.startswith("HTTP/1.1 405 "), (method, path, status)
            assert headers["allow"] == "GET, HEAD" and headers["x-content-type-options"] == "nosniff"
            assert b"<" not in body, (method, path)
    for path in ("/", "/app.js", "/qr.svg?text=x", "/healthz", "/nope", "/media/abc?e=1&s=x"):
        got_status, got_headers, got_body = _raw(server, "GET", path)
        status, headers, body = _raw(server, "HEAD", path)
        assert status == got_status and body == b"", (path, status, body[:40])
        assert headers["content-length"] == got_headers["content-length"] == str(len(got_body))
        assert headers["content-type"] == got_headers["content-type"]
        assert headers["x-content-type-options"] == "nosniff"  # on every answer, the plain-text ones too
    status, headers, _ = _raw(server, "HEAD", "/")
    assert status.startswith("HTTP/1.1 200 ") and "frame-ancestors 'none'" in headers["content-security-policy"]


def test_no_innerhtml_in_the_client() -> None:
    """User text must only ever reach the page as text nodes."""
    from server.web.routes import STATIC_DIR

    scripts = sorted(STATIC_DIR.glob("*.js"))
    assert len(scripts) > 5, scripts  # the client's modules were found (a moved folder checks nothing)
    for f in scripts:
        src = f.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in src, f"{f.name} uses {sink}"


async def _handshake(url: str, origin: str | None) -> int:
    try:
        async with connect(url, origin=origin, subprotocols=["qunguan.v1+json"]) as ws:  # type: ignore[arg-type,list-item]
            await ws.send('{"op":"me","rid":1}')
            await ws.recv()
            return 101
    except InvalidStatus as err:
        return err.response.status_code


async def test_foreign_origin_handshake_is_refused(server: ServerProcess) -> None:
    srv = server
    own = f"http://127.0.0.1:{srv.port}"
    assert await _handshake(srv.url, "http://evil.example") == 403
    assert await _handshake(srv.url, "null") == 403
    assert await _handshake(srv.url, f"http://127.0.0.1:{srv.port + 1}") == 403
    assert await _handshake(srv.url, own) == 101
    assert await _handshake(srv.url, None) == 101  # not a browser: allowed


async def test_allowed_origins_lists_more_origins(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path)
    text = srv.config.read_text().replace("[server]\n", '[server]\nallowed_origins = ["https://chat.example.com"]\n', 1)
    srv.config.write_text(text)
    srv.start()
    try:
        assert await _handshake(srv.url, "https://chat.example.com") == 101
        assert await _handshake(srv.url, "https://evil.example.com") == 403
        assert await _handshake(srv.url, f"http://127.0.0.1:{srv.port}") == 101  # its own origin stays allowed
    finally:
        await srv.stopped()


def _status_for_host(srv: ServerProcess, path: str, host: str, upgrade: bool = False) -> int:
    """The status of a GET of ``path`` naming ``host`` in its Host header (a WebSocket upgrade of it too)."""
    extra = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: qunguan.v1+json\r\n"
             f"Origin: http://{host}\r\n") if upgrade else ""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
        return int(s.recv(65536).split(b" ", 2)[1])


async def test_hostnames_refuse_a_rebound_name(tmp_path: Path) -> None:
    """DNS rebinding: a page on a name its author controls, its DNS switched to this server's address,
    names that name in Host, and its Origin matches it. Without ``hostnames`` the server answers it as
    its own (the upgrade included); with them, 421, while its own name, an address and localhost
    are answered."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "named").mkdir()
    plain = ServerProcess(tmp_path / "plain")
    plain.start()
    try:
        assert _status_for_host(plain, "/", "rebound.example:80") == 200
        assert _status_for_host(plain, "/ws", "rebound.example", upgrade=True) == 101
    finally:
        await plain.stopped()
    srv = ServerProcess(tmp_path / "named")
    named = srv.config.read_text().replace("[server]\n", '[server]\nhostnames = ["chat.example.com"]\n', 1)
    srv.config.write_text(named)
    srv.start()
    try:
        for path, upgrade in (("/", False), ("/ws", True), ("/healthz", False), ("/app.js", False)):
            assert _status_for_host(srv, path, "rebound.example", upgrade) == 421, path
            assert _status_for_host(srv, path, "chat.example.com.rebound.example", upgrade) == 421, path
            want = 101 if upgrade else 200
            for host in ("chat.example.com", "CHAT.example.com:443", f"127.0.0.1:{srv.port}", f"[::1]:{srv.port}",
                         "localhost"):
                assert _status_for_host(srv, path, host, upgrade) == want, (path, host)
    finally:
        await srv.stopped()


def test_origin_rules() -> None:
    assert origin_allowed(None, "h:1", ())
    assert origin_allowed("http://h:1", "h:1", ())
    assert origin_allowed("https://H:1", "h:1", ())
    assert not origin_allowed("http://h:2", "h:1", ())
    assert not origin_allowed("http://h:1", None, ())
    assert not origin_allowed("file://", "h:1", ())
    assert origin_allowed("https://a.example", "h:1", ("https://a.example",))
    assert origin_allowed("https://anything", "h:1", ("*",))
    with pytest.raises(ConfigError) as err:
        parse_config({"server": {"allowed_origins": ["chat.example.com", "https://x/path", 3]}}, base_dir=Path("."))
    assert [p.key for p in err.value.problems] == [
        "server.allowed_origins[0]", "server.allowed_origins[1]", "server.allowed_origins[2]"]
    with pytest.raises(ConfigError) as err:
        parse_config({"server": {"hostnames": ["chat.example.com:443", "https://chat.example.com", "Chat.example.com",
                                               "", "a..b", "ok.example"]}}, base_dir=Path("."))
    assert [p.key for p in err.value.problems] == [f"server.hostnames[{i}]" for i in range(5)]


def test_refusals_outside_the_web_routes_carry_nosniff_too(server: ServerProcess) -> None:
    """A handshake websockets itself refuses (no Upgrade: 426; a bad one: 400) and one refused for a
    foreign origin (403) are answers like any other."""
    status, headers, _ = _raw(server, "GET", "/ws")
    assert status.startswith("HTTP/1.1 426 ") and headers["x-content-type-options"] == "nosniff", (status, headers)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nOrigin: https://evil.example\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 403 ") and "X-Content-Type-Options: nosniff" in head, head
    # What websockets' own request parser refuses before any hook of ours runs: 414 and 431.
    for request, code in ((f"GET /{'a' * 9000} HTTP/1.1\r\n\r\n", "414"),
                          ("GET /ws HTTP/1.1\r\n" + "X-Pad: b\r\n" * 200 + "\r\n", "431")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(request.encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
        assert head.startswith(f"HTTP/1.1 {code} ") and "X-Content-Type-Options: nosniff" in head, head


def _answer(srv: ServerProcess, request: bytes) -> tuple[str, str, bytes]:
    """``request`` sent as is on its own connection: (status line, head, body) of the answer."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    return text.split("\r\n", 1)[0], text, body


@pytest.mark.parametrize(("request_", "status", "says"), [
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", "405", b"method not allowed"),
    (b"PUT /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "405",
     b"method not allowed"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", "400", b"unsupported request body"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "400", b"unsupported protocol"),
    (b"GET / HTTP/1.1\nHost: x\n\n", "400", b"does not end with CRLF"),
    (b"GET\r\n\r\n", "400", b"invalid HTTP request line"),
    (b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", "400", b"not ASCII"),
])
def test_a_request_the_parser_cannot_read_is_answered(server: ServerProcess, request_: bytes, status: str,
                                                       says: bytes) -> None:
    """websockets' request parser closed the connection unanswered on a request with a body, a transfer
    coding, another HTTP version or a malformed line: a form's POST got a reset. Each is answered now,
    405 with Allow for a method other than GET and HEAD, 400 with the reason otherwise, nosniff on both."""
    line, head, body = _answer(server, request_)
    assert line.startswith(f"HTTP/1.1 {status} "), (line, body)
    assert "X-Content-Type-Options: nosniff" in head and says in body, (head, body)
    assert ("Allow: GET, HEAD" in head) == (status == "405"), head
    assert _get(server, "/healthz")[0] == 200


def test_a_qr_text_that_is_not_utf8_is_refused(server: ServerProcess) -> None:
    status, headers, _ = _raw(server, "GET", "/qr.svg?text=%FF")
    assert status.startswith("HTTP/1.1 400 "), status
    status, _, body = _raw(server, "GET", "/qr.svg?text=%E4%BD%A0")
    assert status.startswith("HTTP/1.1 200 ") and b"<svg" in body
