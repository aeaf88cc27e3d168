"""The real client address behind a reverse proxy or load balancer.

Two ways a proxy can tell us who its client is, both honoured **only** when the
TCP peer is inside ``[server] trusted_proxies``; from anyone else they are
ignored (``X-Forwarded-For``) or not read at all (PROXY protocol), so a client
cannot claim another address:

- ``X-Forwarded-For`` on the WebSocket handshake: the rightmost address that is
  not itself a trusted proxy (each proxy appends its peer; everything to the
  left of the first untrusted hop could be made up by the client).
- The PROXY protocol (HAProxy's, versions 1 and 2), when ``[server]
  proxy_protocol = true``: a header a trusted peer sends before the HTTP
  request. :class:`ProxyHeaderReader` reads it off the byte stream.

The parsers are sans-I/O; :func:`connection_class` plugs them into websockets'
connection object.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import random
import socket
import struct
from collections.abc import Callable, Generator, Iterable
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidMessage, SecurityError
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING, Protocol
from websockets.server import ServerProtocol
from websockets.typing import StatusLike

from server import admission, gcpolicy
from server.metrics import METRICS
from server.web.routes import METHODS, method_not_allowed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included (the spec's own bound)
V2_MAX = 16 + 65535


class ProxyHeaderError(ValueError):
    """The bytes a trusted peer sent are not a PROXY protocol header."""


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "::1"]`` -> networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def is_trusted(ip: str, trusted: tuple[Network, ...]) -> bool:
    if not trusted:
        return False
    addr = _address(ip)
    return addr is not None and any(addr in net for net in trusted)


def forwarded_for(peer_ip: str, header_values: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address per ``X-Forwarded-For``, or ``peer_ip`` when the peer is not trusted.

    Walks the hops from the right; the first one that is not a trusted proxy is
    the client. A malformed hop stops the walk there (the last trusted hop's
    peer is all that can be believed), and so does an empty header.
    """
    return forwarded_client(peer_ip, header_values, trusted)[0]


def forwarded_client(peer_ip: str, header_values: Iterable[str],
                     trusted: tuple[Network, ...]) -> tuple[str, bool]:
    """:func:`forwarded_for`, and whether the address is one the header named (True) or the peer's
    own (False: an untrusted peer, an empty header, a malformed rightmost hop). A named address
    may equal the peer's (a client on the proxy's own machine) and still has no port of its own:
    the peer's is the proxy's connection to us."""
    if not is_trusted(peer_ip, trusted):
        return peer_ip, False
    hops = [h for value in header_values for h in value.split(",")]
    client, named = peer_ip, False
    for hop in reversed(hops):
        addr = _address(hop)
        if addr is None:
            break
        client, named = str(addr), True
        if not any(addr in net for net in trusted):
            break
    return client, named


class ProxyHeaderReader:
    """Collects bytes until a full PROXY header is read.

    ``feed(data)`` returns ``None`` while more bytes are needed, then
    ``(source address or None, the bytes after the header)``: ``None`` for a
    ``LOCAL`` (v2) or ``UNKNOWN`` (v1) header, the proxy's own health checks.
    Anything else raises :class:`ProxyHeaderError`. ``source_port``: the client's
    TCP port the header carried (None until then, and for a header without one).
    """

    def __init__(self) -> None:
        self._buf = b""
        self.source_port: int | None = None

    def feed(self, data: bytes) -> tuple[str | None, bytes] | None:
        self._buf += data
        buf = self._buf
        if V2_SIGNATURE.startswith(buf[:12]):
            return None if len(buf) < 16 else self._v2(buf)
        if V1_PREFIX.startswith(buf[:6]):
            return self._v1(buf)
        raise ProxyHeaderError("no PROXY protocol header from a peer that must send one")

    def _v1(self, buf: bytes) -> tuple[str | None, bytes] | None:
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) >= V1_MAX:
                raise ProxyHeaderError("PROXY v1 line too long")
            return None
        line, rest = buf[:end].decode("ascii", "replace"), buf[end + 2 :]
        parts = line.split(" ")
        if len(parts) >= 2 and parts[1] == "UNKNOWN":
            return None, rest
        if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
            raise ProxyHeaderError(f"malformed PROXY v1 line: {line[:V1_MAX]!r}")
        try:
            src = ipaddress.ip_address(parts[2])
            ipaddress.ip_address(parts[3])
            ports = [int(p) for p in parts[4:6]]
        except ValueError:
            raise ProxyHeaderError(f"malformed PROXY v1 line: {line!r}") from None
        if src.version != (4 if parts[1] == "TCP4" else 6) or not all(0 <= p <= 65535 for p in ports):
            raise ProxyHeaderError(f"malformed PROXY v1 line: {line!r}")
        self.source_port = ports[0]
        return str(src), rest

    def _v2(self, buf: bytes) -> tuple[str | None, bytes] | None:
        ver_cmd, fam, length = buf[12], buf[13], struct.unpack("!H", buf[14:16])[0]
        if len(buf) < 16 + length:
            return None
        body, rest = buf[16 : 16 + length], buf[16 + length :]
        if ver_cmd >> 4 != 2:
            raise ProxyHeaderError(f"PROXY v2 header with version {ver_cmd >> 4}")
        command = ver_cmd & 0x0F
        if command == 0:  # LOCAL: the proxy speaking for itself
            return None, rest
        if command != 1:
            raise ProxyHeaderError(f"PROXY v2 header with unknown command {command}")
        family = fam >> 4
        if family == 1 and len(body) >= 12:  # AF_INET: src, dst (4 bytes each), ports
            self.source_port = struct.unpack("!H", body[8:10])[0]
            return socket.inet_ntop(socket.AF_INET, body[:4]), rest
        if family == 2 and len(body) >= 36:  # AF_INET6: src, dst (16 bytes each), ports
            self.source_port = struct.unpack("!H", body[32:34])[0]
            return str(_address(socket.inet_ntop(socket.AF_INET6, body[:16]))), rest
        if family == 0:  # AF_UNSPEC
            return None, rest
        raise ProxyHeaderError(f"PROXY v2 header with an address family this server does not take ({family})")


def proxy_v1(src: str, dst: str, sport: int, dport: int) -> bytes:
    """A PROXY v1 line (for tests and tools)."""
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode("ascii")


def proxy_v2(src: str, dst: str, sport: int, dport: int) -> bytes:
    """A PROXY v2 PROXY-command header over TCP (for tests and tools)."""
    if ":" in src:
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        fam = 0x21
    else:
        body = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
        fam = 0x11
    body += struct.pack("!HH", sport, dport)
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def peer_ip(conn: ServerConnection) -> str:
    """The TCP peer's address (the proxy's, behind one)."""
    addr = conn.remote_address
    return str(addr[0]) if addr else "?"


class ClientConnection(ServerConnection):
    """websockets' server connection, plus the client's real address.

    ``client_ip`` starts as the TCP peer; a PROXY header from a trusted peer
    replaces it before any HTTP byte is parsed, and the app may refine it from
    ``X-Forwarded-For`` during the handshake. ``client_port`` follows it: the
    peer's port, the PROXY header's source port, or None once
    ``X-Forwarded-For`` named another address (that header carries no port; the
    proxy's own port to us is not the client's, and the network log must not
    pair the client's address with it). Subclassed per server by
    :func:`connection_class` (the trusted networks are class attributes).
    """

    trusted: tuple[Network, ...] = ()
    proxy_protocol: bool = False
    handshake_timeout: float  # server.handshake_timeout_seconds, set by connection_class
    # The connections of this server still in their opening handshake (each server's class has its
    # own set, made by connection_class): websockets closes only open ones when the server stops.
    opening: ClassVar[set[ClientConnection]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_ip = "?"
        self.client_port: int | None = None
        self._proxy_reader: ProxyHeaderReader | None = None
        # False after a PROXY header naming no client (LOCAL, UNKNOWN): what follows it on a TCP
        # proxy's connection comes from someone it could not name, who must not name itself in
        # X-Forwarded-For (server.app's _client_ip reads that header from trusted peers only).
        self.forwarded_trusted = True
        self._handshaking: asyncio.Task[Any] | None = None
        self.protocol.reject = _sniff_proof(self.protocol.reject)  # type: ignore[method-assign,assignment]
        # (Nothing has been read yet: the parser websockets started waits for the request's first line.)
        self.protocol.parser = _answering_parse(self.protocol)
        next(self.protocol.parser)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.opening.add(self)
        self.client_ip = peer_ip(self)
        addr = self.remote_address
        self.client_port = int(addr[1]) if addr and len(addr) > 1 else None
        if self.proxy_protocol and is_trusted(self.client_ip, self.trusted):
            self._proxy_reader = ProxyHeaderReader()

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """websockets' opening handshake, given up at this connection's own drawn timeout
        (server/admission.py says why): the TimeoutError makes websockets drop the connection
        unanswered, as its ``open_timeout`` would."""
        now = asyncio.get_running_loop().time()
        self._handshaking = asyncio.current_task()
        try:
            async with asyncio.timeout_at(admission.give_up_at(now, self.handshake_timeout, random.random())):
                await super().handshake(*args, **kwargs)
        except TimeoutError:
            METRICS.handshakes_timed_out.inc()
            raise
        finally:
            self._handshaking = None
            self.opening.discard(self)

    def abort_opening(self) -> None:
        """Drop this connection in its opening handshake (the server stops): the socket is closed
        unanswered, and the handshake, which may be waiting for a request that never completes or
        for an answer of its own (a page, a cluster's home), is cancelled."""
        self.opening.discard(self)
        self.transport.abort()
        if self._handshaking is not None:
            self._handshaking.cancel()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.opening.discard(self)
        gcpolicy.drop_cycles(self)  # freed by reference counting, not left to the collector

    def data_received(self, data: bytes) -> None:
        reader = self._proxy_reader
        if reader is None:
            super().data_received(data)
            return
        try:
            got = reader.feed(data)
        except ProxyHeaderError as err:
            self.logger.debug("closing a connection from %s: %s", self.client_ip, err)
            self._proxy_reader = None
            self.transport.abort()
            return
        if got is None:
            return
        self._proxy_reader = None
        src, rest = got
        if src is not None:
            self.client_ip, self.client_port = src, reader.source_port
        else:
            self.forwarded_trusted = False
        if rest:
            super().data_received(rest)


def _sniff_proof(reject: Callable[[StatusLike, str], Response]) -> Callable[[StatusLike, str], Response]:
    """``reject`` with ``nosniff`` on its answer. websockets' request parser answers a request line or
    header block too long (414, 431) itself, with no hook of ours on the way (server.app's
    ``process_response`` sees only requests it could parse); every refusal is built by this method."""
    def sniff_proof_reject(status: StatusLike, text: str) -> Response:
        response = reject(status, text)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    return sniff_proof_reject


def _answering_parse(protocol: ServerProtocol) -> Generator[None, None, None]:
    """websockets' ``ServerProtocol.parse``, answering every request it cannot read rather than
    closing the connection on it unanswered: a body, a transfer coding, another HTTP version, a
    malformed request line or header, a path that is not ASCII get ``400`` with the parser's reason
    (``405`` with ``Allow`` when the method is not GET or HEAD, as for a request it can read); a line
    or header block too long ``414`` / ``431`` as before. Only a peer that closed before its request
    ended is dropped unanswered. Past the request, websockets' own frame parser runs."""
    if protocol.state is CONNECTING:
        first: list[bytes] = []

        def read_line(limit: int, too_long: type[Exception]) -> Generator[None, None, bytes | bytearray]:
            line = yield from protocol.reader.read_line(limit, too_long)
            if not first:
                first.append(bytes(line))
            return line

        try:
            request = yield from Request.parse(read_line)
        except Exception as exc:
            if isinstance(exc, EOFError) and protocol.reader.eof:  # the peer is gone: nobody to answer
                protocol.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
                protocol.handshake_exc.__cause__ = exc
                protocol.send_eof()
                protocol.parser = protocol.discard()
                next(protocol.parser)
                yield
            protocol.handshake_exc = exc if isinstance(exc, SecurityError) else InvalidMessage(
                f"did not receive a valid HTTP request: {exc}")
            method = first[0].split(b" ", 1)[0] if first else b""
            protocol.send_response(_refusal(protocol, exc, method))
            yield
            return  # (never resumed after a refusal; nothing to append if it were)
        protocol.events.append(request)
    yield from Protocol.parse(protocol)


def _refusal(protocol: ServerProtocol, exc: Exception, method: bytes) -> Response:
    """The answer to a request websockets' parser refused with ``exc`` (see _answering_parse)."""
    name = type(exc).__name__
    if name == "RequestLineTooLong":
        return protocol.reject(http.HTTPStatus.REQUEST_URI_TOO_LONG, f"request line too long: {exc}\n")
    if name in ("HeaderLineTooLong", "TooManyHeaders"):
        return protocol.reject(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"header fields too large: {exc}\n")
    if method.isalpha() and method.decode() not in METHODS:
        return method_not_allowed()
    if isinstance(exc, UnicodeError):
        why = "the request's method or path is not ASCII"
    elif isinstance(exc, EOFError):  # (the peer is still there: a line it sent did not end with CRLF)
        why = "a line of the request does not end with CRLF"
    else:
        why = str(exc)
    return protocol.reject(http.HTTPStatus.BAD_REQUEST, f"bad request: {why}\n")


def connection_class(trusted: tuple[Network, ...], proxy_protocol: bool,
                     handshake_timeout: float) -> type[ClientConnection]:
    return type("ProxiedConnection", (ClientConnection,), {"trusted": trusted, "proxy_protocol": proxy_protocol,
                                                           "handshake_timeout": handshake_timeout,
                                                           "opening": set()})


def abort_opening(cls: type[ClientConnection]) -> int:
    """Drop every connection of ``cls``'s server still in its opening handshake; how many."""
    conns = list(cls.opening)
    for conn in conns:
        conn.abort_opening()
    return len(conns)
