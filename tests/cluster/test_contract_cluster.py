"""The wire contract's cluster section as an outside acceptance test reads it ("Cluster (several
nodes)"): "Any number of `qunguan serve` processes with the same `[storage]` and
`[cluster]` (each with its own `[server] port` and operator socket) form one service. A client may
connect to any node and sees exactly what it would see on one node".

Each node here is what such a test writes: its own folder with its own ``qunguan.toml`` (so its
operator socket, SMS outbox and other relative paths are its own, beside its config file, as the
contract's defaults say), and exactly the same ``[storage]`` and ``[cluster]`` tables. (From a review
of conformance to the contract: these failed on the code they were written against; the second node
starts on the development key the first kept in the database, identity.dev_mode being the default.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import struct
import zlib
from pathlib import Path

import pytest

from client_demo.client import Client
from tests import pgtools
from tests.cluster.harness import BROKER
from tests.e2e.harness import ServerProcess, new_phone, open_group
from tests.e2e.ops_helpers import http_get


class ContractNode(ServerProcess):
    """A node whose config is only what the contract asks for: its own port, the shared tables."""

    def __init__(self, folder: Path, config: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder, "", backend="sqlite")  # writes a single-node config: replaced below
        (folder / "qunguan.db").unlink(missing_ok=True)  # (the harness's SQLite copy: not used)
        self.config.write_text(config, encoding="utf-8")


def node_config(node_id: str, pg_url: str, service: str, extra: str = "") -> str:
    return f"""[server]
port = 0
[identity]
sms_provider = "file"
sms_outbox = "sms.jsonl"
argon2_time_cost = 1
argon2_memory_kib = 1024
require_id_to_create = false
{extra}
[storage]
url = "{pg_url}"
[cluster]
broker_url = "{BROKER}"
node_id = "{node_id}"
name = "{service}"
"""


@pytest.fixture
def service(tmp_path):
    """(make_node, folders): nodes of one fresh service (own database, own NATS subject prefix)."""
    db, url = pgtools.create_db()
    name = "t" + secrets.token_hex(4)
    nodes: list[ContractNode] = []

    def make(node_id: str, extra: str = "") -> ContractNode:
        n = ContractNode(tmp_path / node_id, node_config(node_id, url, name, extra))
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.stop()
        print(f"----- {n.dir.name} -----\n" + "".join(n.output))
    pgtools.drop_db(db)


async def register(node: ServerProcess, folders: list[Path]) -> Client:
    """A user registered and signed in on ``node``; its SMS code read from whichever outbox has it."""
    c = await Client.connect(node.url, encoding="json")
    phone = new_phone()
    await c.request("request_code", phone=phone)
    code = None
    for _ in range(50):
        for f in folders:
            box = f / "sms.jsonl"
            if box.exists():
                for line in box.read_text(encoding="utf-8").splitlines():
                    if json.loads(line)["phone"] == phone:
                        code = json.loads(line)["code"]
        if code is not None:
            break
        await asyncio.sleep(0.1)
    assert code is not None, "no SMS code in any node's outbox"
    name = "u" + secrets.token_hex(5)
    await c.request("register", username=name, password="password123", phone=phone, code=code)
    await c.login(name, "password123")
    return c


async def ready(*nodes: ServerProcess) -> None:
    """Until every node's `GET /readyz` is 200 ("200 only while the server can take traffic")."""
    for _ in range(200):
        if all(http_get(n, "/readyz").status_code == 200 for n in nodes):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not ready")


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + chunk(b"IEND", b""))


async def test_a_second_node_with_the_same_storage_and_cluster_tables_starts(service):
    """"Any number of `qunguan serve` processes with the same `[storage]` and `[cluster]` ... form
    one service": the second node, in a folder of its own, must start and serve. It exits instead:
    "no identity key file at .../n2/identity.key, but this database already has 1 identity key(s)
    registered" (the first node made its key beside its own config file)."""
    n1 = service("n1")
    n1.start()
    n2 = service("n2")
    try:
        n2.start()
    except RuntimeError as exc:
        pytest.fail(f"the second node did not start: {str(exc)[-400:]}")
    await ready(n1, n2)
    c = await register(n2, [n1.dir, n2.dir])
    assert (await c.request("me"))["user_id"] == c.user_id
    await c.close()


async def test_an_attachment_url_works_on_the_node_the_client_is_connected_to(service, tmp_path):
    """"A client may connect to any node and sees exactly what it would see on one node" and (Media)
    "`url` is a path on the server's own port: `/media/{media_id}?...` ... `GET` with a valid
    signature returns the bytes". A client on the second node gets a URL for its own picture and
    fetches it from that node: 404 (the file is in the first node's `[media] path`, relative to
    that node's config). The nodes share one key file here, only so that the second one starts at all
    (see the test above)."""
    key_file = tmp_path / "shared-identity.key"
    key_file.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    extra = f'key_file = "{key_file}"'
    n1 = service("n1", extra)
    n1.start()
    n2 = service("n2", extra)
    n2.start()
    await ready(n1, n2)
    owner = await register(n1, [n1.dir, n2.dir])
    gid = await open_group(owner)
    member = await register(n2, [n1.dir, n2.dir])
    assert (await member.request("join_group", group_id=gid))["status"] == "joined"
    data = tiny_png()
    begun = await member.request("upload_begin", mime="image/png", size=len(data))
    await member.request("upload_chunk", upload_id=begun["upload_id"], offset=0,
                         data=base64.b64encode(data).decode())
    done = await member.request("upload_end", upload_id=begun["upload_id"], sha256=hashlib.sha256(data).hexdigest())
    sent = await member.send(gid, "", attachments=[done["media_id"]])
    url = (await member.request("media_url", group_id=gid, seq=sent["seq"], media_id=done["media_id"]))["url"]
    on_n1 = http_get(n1, url).status_code
    on_n2 = http_get(n2, url)
    assert on_n2.status_code == 200, f"GET {url} on the client's node: {on_n2.status_code} (on the other: {on_n1})"
    assert on_n2.content == data
    await owner.close()
    await member.close()


async def test_a_node_answers_its_first_request_once_it_printed_listening(service):
    """Start and configuration: "When the server is listening it prints one line to stdout
    containing `listening on ws://HOST:PORT/ws`" — the line every outside test waits for. A cluster
    node prints it before it has taken the home lease and loaded the state, and a request arriving
    in that window is refused with `internal` ("no node serves the service right now (the home node
    is changing)"), which the contract keeps for a server fault."""
    n1 = service("n1")
    n1.start()
    c = await Client.connect(n1.url, encoding="json")
    r = await c.call("request_code", phone=new_phone())
    assert r["ok"], r
    await c.close()
