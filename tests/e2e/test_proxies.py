"""Real client IPs behind a reverse proxy: X-Forwarded-For and the PROXY protocol, from trusted peers only.

The server's network log (Art. 13) and access log name the real client; the
per-IP connection limit counts it; an untrusted peer cannot choose its address.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from tests.e2e import ops_helpers as ops

JSON = ["qunguan.v1+json"]


async def _open_and_close(url: str, **kw) -> None:
    async with connect(url, subprotocols=JSON, **kw):  # type: ignore[arg-type]
        pass


async def _access_ips(srv, n: int) -> list[str]:
    for _ in range(100):
        lines = ops.access_lines(srv)
        if len(lines) >= n:
            return [e["ip"] for e in lines]
        await asyncio.sleep(0.05)
    raise AssertionError("access lines missing:\n" + "".join(srv.output))


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path, started, monkeypatch, backend):
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CONNECTIONS_PER_IP_PER_MINUTE", "2")
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]', backend=backend))
    # client, then an internal proxy hop (trusted), as nginx behind a load balancer appends them
    await _open_and_close(srv.url, additional_headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.2.3"})
    assert await _access_ips(srv, 1) == ["203.0.113.9"]  # rightmost untrusted hop; the left part is the client's word

    # the per-IP limit counts real clients: two from each of two clients pass, a third from one is refused
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2"):
        await _open_and_close(srv.url, additional_headers={"X-Forwarded-For": ip})
    with pytest.raises(InvalidStatus) as refused:
        await _open_and_close(srv.url, additional_headers={"X-Forwarded-For": "192.0.2.1"})
    assert refused.value.response.status_code == 429
    await _open_and_close(srv.url, additional_headers={"X-Forwarded-For": "192.0.2.3"})
    ips = await _access_ips(srv, 6)
    assert ips[1:] == ["192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2", "192.0.2.3"]

    # a row of the network log pairs the client's address with no port of the proxy's (the header has none)
    async with connect(srv.url, subprotocols=JSON,  # type: ignore[arg-type]
                       additional_headers={"X-Forwarded-For": "203.0.113.77"}) as ws:
        await ws.send('{"op": "request_code", "rid": 1, "phone": "13900000001"}')
        assert '"ok":true' in (await ws.recv()).replace(" ", "")
    # the network log, kept six months, has the real addresses too
    user = await srv.client()
    await user.close()
    await asyncio.sleep(0.3)
    await srv.stopped()
    # (none of these connections logged in: each address's are counted in one row, written at shutdown)
    assert srv.db_rows("SELECT ip FROM netlog WHERE kind IN ('connect', 'disconnect')") == []
    rows = srv.db_rows("SELECT ip, detail FROM netlog WHERE kind = 'unauthenticated'")
    counts = {ip: json.loads(detail)["connections"] for ip, detail in rows}
    assert counts == {"203.0.113.9": 1, "192.0.2.1": 2, "192.0.2.2": 2, "192.0.2.3": 1, "127.0.0.1": 1,
                      "203.0.113.77": 1}
    [(ip, detail)] = srv.db_rows("SELECT ip, detail FROM netlog WHERE kind = 'code_request'")
    assert ip == "203.0.113.77" and "port" not in json.loads(detail)


async def test_an_untrusted_peer_cannot_choose_its_address(tmp_path, started, monkeypatch):
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CONNECTIONS_PER_IP_PER_MINUTE", "2")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_SPARE_LOOPBACK", "false")  # (the peer, 127.0.0.1, is counted)
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["10.0.0.0/8"]'))  # not us
    for ip in ("192.0.2.1", "192.0.2.2"):
        await _open_and_close(srv.url, additional_headers={"X-Forwarded-For": ip})
    with pytest.raises(InvalidStatus) as refused:  # a new made-up address every time does not help
        await _open_and_close(srv.url, additional_headers={"X-Forwarded-For": "192.0.2.99"})
    assert refused.value.response.status_code == 429
    assert await _access_ips(srv, 2) == ["127.0.0.1", "127.0.0.1"]


# PROXY protocol headers written out from the HAProxy specification (proxy-protocol.txt), not with
# the server's encoder, so a mistake the encoder and the parser share cannot pass: a v1 line
# "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n"; a v2 header of the 12-byte signature, 0x21
# (version 2, command PROXY), 0x11 (TCP over IPv4) or 0x21 (TCP over IPv6), the address block's
# length (big-endian), then source and destination address and source and destination port.
V2_SIGNATURE = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"


def _v1_ipv4(port: int) -> bytes:
    """203.0.113.50:40000 to 127.0.0.1:port."""
    return b"PROXY TCP4 203.0.113.50 127.0.0.1 40000 %d\r\n" % port


def _v1_ipv6(port: int) -> bytes:
    """[2001:db8::7]:40001 to [::1]:port."""
    return b"PROXY TCP6 2001:db8::7 ::1 40001 %d\r\n" % port


def _v2_ipv4(port: int) -> bytes:
    return (V2_SIGNATURE + b"\x21\x11\x00\x0c"
            + b"\xcb\x00\x71\x32"  # 203.0.113.50
            + b"\x7f\x00\x00\x01"  # 127.0.0.1
            + b"\x9c\x40"  # 40000
            + port.to_bytes(2, "big"))


def _v2_ipv6(port: int) -> bytes:
    return (V2_SIGNATURE + b"\x21\x21\x00\x24"
            + b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x07"  # 2001:db8::7
            + b"\x00" * 15 + b"\x01"  # ::1
            + b"\x9c\x41"  # 40001
            + port.to_bytes(2, "big"))


HEADERS = {1: (_v1_ipv4, _v1_ipv6), 2: (_v2_ipv4, _v2_ipv6)}


def _raw_socket(port: int, header: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(header)
    return sock


@pytest.mark.parametrize("version", [1, 2])
async def test_proxy_protocol_from_a_trusted_proxy(tmp_path, started, version, backend):
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["127.0.0.1"]\nproxy_protocol = true', backend=backend))
    ipv4, ipv6 = HEADERS[version]
    sock = _raw_socket(srv.port, ipv4(srv.port))
    async with connect(srv.url, sock=sock, subprotocols=JSON) as ws:  # type: ignore[arg-type]
        await ws.send('{"op": "request_code", "rid": 1, "phone": "13900000000"}')
        assert '"ok":true' in (await ws.recv()).replace(" ", "")
    sock6 = _raw_socket(srv.port, ipv6(srv.port))
    async with connect(srv.url, sock=sock6, subprotocols=JSON) as ws:  # type: ignore[arg-type]
        await ws.send('{"op": "request_code", "rid": 1, "phone": "13900000002"}')
        assert '"ok":true' in (await ws.recv()).replace(" ", "")
    assert await _access_ips(srv, 2) == ["203.0.113.50", "2001:db8::7"]
    # the network log pairs each client's address with its own port, the one the header carried
    rows = []
    for _ in range(50):
        rows = srv.db_rows("SELECT ip, detail FROM netlog WHERE kind = 'code_request' ORDER BY id")
        if len(rows) == 2:
            break
        await asyncio.sleep(0.1)
    assert [(ip, json.loads(detail)["port"]) for ip, detail in rows] == [("203.0.113.50", 40000),
                                                                         ("2001:db8::7", 40001)]
    # a trusted peer that must send the header and sends plain HTTP instead is dropped
    with pytest.raises((InvalidHandshake, OSError)):
        await _open_and_close(srv.url, open_timeout=3)


async def test_proxy_protocol_header_from_an_untrusted_peer_is_not_read(tmp_path, started):
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["10.0.0.0/8"]\nproxy_protocol = true'))
    sock = _raw_socket(srv.port, _v1_ipv4(srv.port))
    with pytest.raises(InvalidHandshake):  # the header is not HTTP: the handshake fails, nothing is believed
        async with connect(srv.url, sock=sock, subprotocols=JSON, open_timeout=3):  # type: ignore[arg-type]
            pass
    await _open_and_close(srv.url)  # without a header it is an ordinary client
    assert "203.0.113.50" not in "".join(srv.output)
    assert (await _access_ips(srv, 1))[-1] == "127.0.0.1"


@pytest.mark.parametrize("header", [b"PROXY UNKNOWN\r\n", V2_SIGNATURE + b"\x20\x00\x00\x00"],
                         ids=["v1-unknown", "v2-local"])
async def test_after_a_proxy_header_naming_nobody_forwarded_for_is_not_read(tmp_path, started, header):
    """A TCP proxy passes the client's bytes on: after a header naming no client, an
    ``X-Forwarded-For`` is the client's own word and would let it choose its address."""
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["127.0.0.1"]\nproxy_protocol = true'))
    sock = _raw_socket(srv.port, header)
    async with connect(srv.url, sock=sock, subprotocols=JSON,  # type: ignore[arg-type]
                       additional_headers={"X-Forwarded-For": "192.0.2.66"}):
        pass
    assert await _access_ips(srv, 1) == ["127.0.0.1"]
