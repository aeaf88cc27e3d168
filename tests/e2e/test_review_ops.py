"""Review of the deployment kit and the operations docs, as an operator following them (rv-ops)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from websockets.asyncio.client import connect

from tests.e2e import ops_helpers as ops

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "qunguan.toml"


def _differences(a, b, path: str = "") -> list[str]:
    if dataclasses.is_dataclass(a):
        out: list[str] = []
        for f in dataclasses.fields(a):
            if f.name != "source":  # (where the config was read from)
                out += _differences(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}".lstrip("."))
        return out
    return [] if a == b else [f"{path}: example {a!r}, default {b!r}"]


def test_the_example_config_holds_every_default():
    """examples/qunguan.toml says of itself "every key, with its default" (and docs/deploy.md: "every
    config key, commented, with its default"); the image and the systemd steps install it as the
    service's config. A value in it that is not the default changes what a deployment from the kit
    does without the operator having chosen it: ``max_frame_bytes_before_login = 65536`` closes with
    1009 a frame before the login that the contract's one limit (``max_frame_bytes``) accepts, while
    docs/config.md gives its default as 0 and docs/protocol.md calls it "off unless set"."""
    from server.config import load_config, parse_config

    example = load_config(EXAMPLE)
    defaults = parse_config({}, EXAMPLE.parent.resolve())
    assert _differences(example, defaults) == []


async def test_forwarded_for_naming_the_proxys_own_address_pairs_it_with_no_port(tmp_path, started):
    """docs/operations.md: the network log's port is "none at all when the address came from
    X-Forwarded-For (that header has no port, and the port of the proxy's own connection to the
    server is not the client's)". A client on the proxy's own machine (examples/nginx.conf in front,
    ``trusted_proxies = ["127.0.0.1"]``, a browser or tool on that host) reaches nginx from 127.0.0.1,
    and nginx sets ``X-Forwarded-For: 127.0.0.1``: the server took the header's address, found it
    equal to the peer's, and kept the port of nginx's own connection to it in the row."""
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["127.0.0.1"]'))
    async with connect(srv.url, subprotocols=["qunguan.v1+json"],  # type: ignore[arg-type]
                       additional_headers={"X-Forwarded-For": "127.0.0.1"}) as ws:
        await ws.send('{"op": "request_code", "rid": 1, "phone": "13900000002"}')
        assert '"ok":true' in (await ws.recv()).replace(" ", "")
    await srv.stopped()
    [(ip, detail)] = srv.db_rows("SELECT ip, detail FROM netlog WHERE kind = 'code_request'")
    assert ip == "127.0.0.1"
    assert "port" not in json.loads(detail), detail
