"""The web client on a cluster of real nodes (PostgreSQL and NATS) while its home node stalls or dies:
an answer `internal` means "not known to have happened", and the page tries again by itself (the
message with the same client_msg_id, the sign-in, the upload) instead of showing a failure or
waiting for nothing."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import pgtools
from tests.cluster.harness import Cluster, CuttableRelay, unavailable, wait_stopped
from tests.e2e.harness import open_group
from tests.e2e.store_hold import reads_held
from tests.web.browser import Background, login, message, new_page, send, tiny_png

IMG_LOADED = """sel => { const i = document.querySelector(sel);
  return !!i && i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0; }"""


@pytest.fixture
def cluster_of(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Clusters of a test's own, started (``auth_timeout``: the nodes' server.auth_timeout_seconds);
    stopped and dropped after the test."""
    why = unavailable()
    if why is not None:
        pytest.skip(f"cluster tests need PostgreSQL and NATS: {why}")
    made: list[Cluster] = []

    def make(auth_timeout: float = 10.0, **kw: Any) -> Cluster:
        c = Cluster(tmp_path / f"cluster{len(made) + 1}", **kw)
        made.append(c)
        for n in c.nodes:
            config = n.config.read_text(encoding="utf-8")
            assert "auth_timeout_seconds = 10.0\n" in config
            wanted = f"auth_timeout_seconds = {auth_timeout}\n"
            n.config.write_text(config.replace("auth_timeout_seconds = 10.0\n", wanted), encoding="utf-8")
        return c.start()

    yield make
    for c in made:
        for n in c.nodes:  # (a node a failed test left stopped would not hear its SIGTERM)
            if n.alive and n.proc is not None:
                n.proc.send_signal(signal.SIGCONT)
        c.cleanup()


class Balancer(CuttableRelay):
    """A load balancer in front of the nodes: each new TCP connection goes to the first node of
    ``ports`` that takes it (a killed node refuses), as a proxy that skips a dead upstream does."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__("127.0.0.1", ports[0])
        self.ports = ports

    async def _link(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        for port in self.ports:
            try:
                sr, sw = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self._links |= {cw, sw}
            await pgtools.splice(cr, cw, sr, sw)
            return
        cw.close()


class AtFrame:
    """The page's WebSocket passed through; at the page's first frame of ``op`` (counted in
    ``seen``) ``act()`` runs before the frame goes on to the server. Install it before the page
    connects."""

    def __init__(self, page: Any, op: str, act: Callable[[], None]) -> None:
        self.marker = f'"op":"{op}"'
        self.act = act
        self.seen = 0
        self.begins = 0  # upload_begin frames
        page.route_web_socket("**/ws", self._through)

    def _through(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(frame: str | bytes) -> None:
            text = frame if isinstance(frame, str) else frame.decode(errors="replace")
            self.begins += '"op":"upload_begin"' in text
            if self.marker in text:
                self.seen += 1
                if self.seen == 1:
                    self.act()
            server.send(frame)

        ws.on_message(from_page)


def _open(page: Any, gid: str) -> None:
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text:enabled")


def test_a_send_answered_internal_but_stored_is_settled_as_sent_once(
        browser: Any, cluster_of: Callable[..., Cluster], bg: Background) -> None:
    """The home node stalls under a send (SIGSTOP, shorter than a lease): the gateway answers it
    `internal` after its request timeout, then the home stores and delivers it. The page used to show
    the delivered message and beside it a failed bubble (服务器错误，请重试) whose Edit stored a
    duplicate. It sends it again with the same client_msg_id, is answered from the first copy, and
    shows it once, sent; the server holds it once."""
    # (stalled 3.5 s, well past the 1 s timeout even on a loaded machine, and well inside the lease)
    c = cluster_of(size=2, request_timeout_seconds=1.0, lease_seconds=9.0)
    home, gateway = c.home(), c.gateways()[0]
    owner = bg.run(gateway.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, gateway)
    proc = home.proc
    assert proc is not None

    def stall() -> None:
        proc.send_signal(signal.SIGSTOP)
        wait_stopped(proc.pid)
        threading.Timer(3.5, lambda: proc.send_signal(signal.SIGCONT)).start()

    at = AtFrame(page, "send", stall)
    login(page, owner.username)
    _open(page, gid)
    send(page, "主节点卡住时发的消息")
    message(page, "主节点卡住时发的消息")
    expect(page.locator("#outbox .pending")).to_have_count(0, timeout=20_000)
    assert at.seen >= 2  # answered `internal` at first, and sent again by itself
    expect(page.locator("#messages .msg .text", has_text="主节点卡住时发的消息")).to_have_count(1)
    rows = c.db_rows("SELECT count(*) FROM messages WHERE group_id = ? AND text = ?", gid, "主节点卡住时发的消息")
    assert rows == [(1,)]
    assert page.errors == []


def test_a_page_that_reconnects_during_a_failover_signs_in_once_a_node_serves(
        browser: Any, cluster_of: Callable[..., Cluster], bg: Background) -> None:
    """Behind a load balancer, the home dies (kill -9) under the page: it reconnects at once to the
    other node, whose `auth` answers `internal` while no node serves. The page used to do nothing
    more until the server dropped it at its auth timeout; it asks again after a moment, saying so,
    and is signed in soon after the new home serves (well within the auth timeout, 60 s here).
    The node taking over learns of the death at once; its state load is held here (as a large
    service's takes seconds), or nothing would be left of the moment without a home."""
    c = cluster_of(size=2, auth_timeout=60.0)
    n1, n2 = c.nodes
    assert c.home() is n1
    lb = Balancer([n1.port, n2.port])
    lb.open()
    try:
        owner = bg.run(n2.user())
        gid = bg.run(open_group(owner))
        page = new_page(browser, n2)
        page.goto(f"http://127.0.0.1:{lb.port}/")
        login(page, owner.username)
        _open(page, gid)
        page.evaluate("""() => {
          window.statuses = [];
          new MutationObserver(() => window.statuses.push(document.body.dataset.status))
            .observe(document.body, { attributes: true, attributeFilter: ["data-status"] });
        }""")

        load_held = reads_held(n2, "users")
        bg.run(load_held.__aenter__())
        try:
            n1.kill9()
            killed = time.monotonic()
            # said while it waited for a node to serve
            page.wait_for_function("() => window.statuses.includes('server_busy')", timeout=30_000)
        finally:
            bg.run(load_held.__aexit__(None, None, None))
        page.wait_for_function("""() => { const s = window.statuses, i = s.lastIndexOf("reconnecting");
          return i >= 0 && s.slice(i).includes("connected"); }""", timeout=30_000)
        took = time.monotonic() - killed
        assert took < 30, took
        send(page, "切换之后的消息")
        message(page, "切换之后的消息")
        expect(page.locator("#outbox .pending")).to_have_count(0)
        assert c.db_rows("SELECT text FROM messages WHERE group_id = ?", gid) == [("切换之后的消息",)]
        assert page.errors == []
    finally:
        lb.close()


def test_a_picture_upload_cut_by_the_homes_death_goes_on_and_the_message_carries_it(
        browser: Any, cluster_of: Callable[..., Cluster], bg: Background) -> None:
    """The home dies (kill -9) as the page on a gateway sends a picture's chunk: the chunk is answered
    `internal`. The picture used to vanish from the composer (上传失败：服务器错误，请重试); the page
    waits, tries again, and begins the upload again on the new home, which never had it."""
    c = cluster_of(size=2)
    home, gateway = c.home(), c.gateways()[0]
    owner = bg.run(gateway.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, gateway)
    at = AtFrame(page, "upload_chunk", home.kill9)
    login(page, owner.username)
    _open(page, gid)
    png = tiny_png(40, 30)
    page.set_input_files("#file-input", files=[{"name": "猫.png", "mimeType": "image/png", "buffer": png}])
    page.wait_for_selector("#attach-tray .attach-item.done[data-name='猫.png']", timeout=30_000)
    assert not home.alive and at.begins == 2  # begun again: the new home never had the first
    page.fill("#composer-text", "主节点挂掉时传的图")
    page.press("#composer-text", "Enter")
    message(page, "主节点挂掉时传的图").locator("img.media-img").wait_for()
    assert page.wait_for_function(IMG_LOADED, arg="#messages img.media-img", timeout=10_000).json_value() == 40
    stored = bg.run(owner.request("history", group_id=gid, limit=10))["messages"]
    assert [(m["text"], [a["name"] for a in m.get("attachments", [])]) for m in stored] == [
        ("主节点挂掉时传的图", ["猫.png"])]
    assert page.errors == []
