"""Pictures and files in the browser: chunked upload over the WebSocket, shown inline to the other
user through a signed URL, refreshed with media_url once that URL has expired."""

from __future__ import annotations

import hashlib
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.media.sniff import DEFAULT_ALLOWED
from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import (
    Background,
    create_group,
    join_group,
    login,
    message,
    new_page,
    register,
    tiny_png,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
IMG_LOADED = """sel => { const i = document.querySelector(sel);
  return !!i && i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0; }"""


def test_image_and_file_upload_show_in_the_other_browser(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "相册")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")

    png = tiny_png(40, 30)
    alice.set_input_files("#file-input", files=[{"name": "猫.png", "mimeType": "image/png", "buffer": png}])
    alice.wait_for_selector("#attach-tray .attach-item.done[data-name='猫.png']")
    alice.fill("#composer-text", "看这张图")
    alice.press("#composer-text", "Enter")

    for p in (bob, alice):
        msg = message(p, "看这张图")
        img = msg.locator("img.media-img")
        img.wait_for()
        assert p.wait_for_function(IMG_LOADED, arg="#messages img.media-img").json_value() == 40
        assert (img.get_attribute("src") or "").startswith("/media/")
    assert alice.locator("#attach-tray").is_hidden()
    # The bytes behind the signed URL are the ones uploaded.
    digest = bob.evaluate("""async () => {
      const r = await fetch(document.querySelector('#messages img.media-img').src);
      return [r.status, r.headers.get('content-type'),
              Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await r.arrayBuffer())),
                         b => b.toString(16).padStart(2, '0')).join('')];
    }""")
    assert digest == [200, "image/png", hashlib.sha256(png).hexdigest()]

    # A file with no text: a download link with its name and size.
    bob.set_input_files("#file-input", files=[{"name": "会议纪要.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    bob.wait_for_selector("#attach-tray .attach-item.done")
    bob.click("#send-btn")
    link = alice.locator("#messages a.media-file")
    link.wait_for()
    assert "会议纪要.pdf" in link.inner_text()
    assert link.get_attribute("download") == ""  # the server's Content-Disposition names the file
    with alice.expect_download() as got:
        link.click()
    assert got.value.suggested_filename == "会议纪要.pdf"
    status = alice.evaluate("async () => (await fetch(document.querySelector('#messages a.media-file').href)).status")
    assert status == 200
    # The group list previews it as a file, from Bob.
    expect(alice.locator(f'.group-item[data-gid="{gid}"] .preview')).to_have_text("Bob：[文件]")

    # A long name cut to 200 characters by the page, an emoji across the cut: cut by characters (by
    # UTF-16 units, half an emoji went, and the server refused the frame as invalid text).
    long_name = "纪" * 199 + "😀😀.pdf"
    bob.set_input_files("#file-input", files=[{"name": long_name, "mimeType": "application/pdf", "buffer": PDF}])
    bob.wait_for_selector("#attach-tray .attach-item.done")
    bob.click("#send-btn")
    alice.wait_for_selector(f"#messages a.media-file:has-text('{long_name[:199]}😀')")

    # A PDF named as a page is saved as a PDF: a name must not make the computer open the checked
    # bytes as another type (it was saved as report.html, and opened as a page from the disk).
    bob.set_input_files("#file-input", files=[{"name": "report.html", "mimeType": "application/pdf", "buffer": PDF}])
    bob.wait_for_selector("#attach-tray .attach-item.done")
    bob.click("#send-btn")
    page_named = alice.locator("#messages a.media-file:has-text('report.html')")
    with alice.expect_download() as got:
        page_named.click()
    assert got.value.suggested_filename == "report.html.pdf"

    # The picker offers the types the server takes (`me`'s upload_types); one it does not take (a
    # drop or another way round the picker) is refused in plain language, and nothing is sent.
    assert alice.get_attribute("#file-input", "accept") == ",".join(DEFAULT_ALLOWED)
    exe = {"name": "x.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" * 50}
    alice.set_input_files("#file-input", files=[exe])
    alice.wait_for_selector("#toasts .toast-error:has-text('x.exe')")
    assert alice.locator("#attach-tray .attach-item").count() == 0
    docx = {"name": "report.docx", "buffer": b"PK\x03\x04" * 50,
            "mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
    alice.set_input_files("#file-input", files=[docx])
    said = alice.locator("#toasts .toast-error", has_text="report.docx").last.inner_text()
    assert ("不能发送这种文件（Word 文档）。可以发送：图片（JPEG、PNG、GIF、WEBP）、音频（MPEG、OGG、AMR）、"
            "视频（MP4）、PDF") in said
    assert "application/" not in said
    assert alice.errors == [] and bob.errors == []


def test_expired_media_url_is_refreshed(browser: Any, tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path, "[media]\nurl_ttl_seconds = 2\n").start()
    try:
        alice = new_page(browser, srv)
        bob = new_page(browser, srv)
        register(alice, srv, display="Alice")
        register(bob, srv, display="Bob")
        gid = create_group(alice, "过期链接")
        join_group(bob, gid)
        bob.wait_for_selector("#composer-text:enabled")
        bob.reload()  # Bob is online but not looking at the group: the picture arrives and waits
        bob.wait_for_selector("#status.status-connected")
        pic = {"name": "a.png", "mimeType": "image/png", "buffer": tiny_png(24, 24)}
        alice.set_input_files("#file-input", files=[pic])
        alice.wait_for_selector("#attach-tray .attach-item.done")
        alice.press("#composer-text", "Enter")
        bob.wait_for_selector(f'.group-item[data-gid="{gid}"] .badge.unread')
        bob.wait_for_timeout(3500)  # the URL that came with the event has expired
        bob.click(f'.group-item[data-gid="{gid}"]')
        assert bob.wait_for_function(IMG_LOADED, arg="#messages img.media-img", timeout=10_000).json_value() == 24
        assert bob.locator("#messages img.media-img").get_attribute("data-refreshed-at")  # it asked media_url
        assert bob.errors == [] and alice.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_sha256_fallback_matches_the_browser(browser: Any, server: ServerProcess) -> None:
    """Plain-http pages on a LAN address have no crypto.subtle: the client's own SHA-256 must agree."""
    page = new_page(browser, server)
    same = page.evaluate("""async () => {
      const { sha256Bytes, hex } = await import('/sha256.js');
      for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 70000]) {
        const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
        const want = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', b)));
        if (hex(sha256Bytes(b)) !== want) return n;
      }
      return true;
    }""")
    assert same is True


def _big_pdf(size: int = 2_000_000) -> bytes:
    """A PDF the server takes (it checks the magic number) of about ``size`` bytes: three chunks."""
    body = bytes((i * 131 + 7) & 255 for i in range(size))
    return b"%PDF-1.4\n" + body + b"\n%%EOF\n"


class ChunkCut:
    """The page's WebSocket through a route that drops the connection at the page's ``nth``
    upload_chunk frame, which reaches the server first when ``deliver`` (only its answer is lost)
    and is lost with the connection otherwise; the page's reconnects are refused until ``mend()``.
    Counts the upload_begin frames the page sends. Install it before the page connects."""

    def __init__(self, page: Any, nth: int, deliver: bool) -> None:
        self.nth, self.deliver = nth, deliver
        self.away = False
        self.chunks = 0
        self.begins = 0
        page.route_web_socket("**/ws", self._through)

    def _through(self, ws: Any) -> None:
        if self.away:
            ws.close(code=1001)
            return
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode(errors="replace")
            self.begins += '"op":"upload_begin"' in text
            if '"op":"upload_chunk"' in text:
                self.chunks += 1
                if self.chunks == self.nth:
                    if self.deliver:
                        server.send(message)
                    self.away = True
                    server.close()
                    ws.close(code=1001)
                    return
            server.send(message)

        ws.on_message(from_page)

    def mend(self) -> None:
        self.away = False


def _sha_of_link(page: Any, text: str) -> str:
    link = message(page, text).locator("a.media-file")
    link.wait_for()
    digest: str = page.evaluate("""async (href) => {
      const r = await fetch(href);
      return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await r.arrayBuffer())),
                        b => b.toString(16).padStart(2, '0')).join('');
    }""", link.get_attribute("href"))
    return digest


@pytest.mark.parametrize("deliver", [True, False], ids=["answer-lost", "chunk-lost"])
def test_an_upload_cut_by_a_dropped_connection_goes_on_after_the_reconnect(
        browser: Any, server: ServerProcess, bg: Background, deliver: bool) -> None:
    """The file used to vanish from the composer (a toast, the upload dropped) when the connection
    dropped under its upload, and a message already sent with it went without it. The upload waits,
    shown paused, and goes on from where the server has it: the message sent meanwhile carries it."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    cut = ChunkCut(page, nth=2, deliver=deliver)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    pdf = _big_pdf()
    page.set_input_files("#file-input", files=[{"name": "大文件.pdf", "mimeType": "application/pdf", "buffer": pdf}])
    page.wait_for_selector("#status.status-reconnecting")
    item = page.locator("#attach-tray .attach-item[data-name='大文件.pdf']")
    expect(item).to_contain_text("已暂停")  # still there, and the user is shown why it waits
    page.fill("#composer-text", "断线时附上的文件")
    page.press("#composer-text", "Enter")
    pending = page.locator("#outbox .pending", has_text="断线时附上的文件")
    expect(pending).to_contain_text("大文件.pdf")
    expect(pending).to_contain_text("发送中")

    cut.mend()
    page.wait_for_selector("#status.status-connected", timeout=20_000)
    assert _sha_of_link(page, "断线时附上的文件") == hashlib.sha256(pdf).hexdigest()
    expect(page.locator("#outbox .pending")).to_have_count(0)
    assert cut.begins == 1  # went on with the same upload, not begun again
    stored = bg.run(owner.request("history", group_id=gid, limit=10))["messages"]
    assert [(m["text"], [a["name"] for a in m.get("attachments", [])]) for m in stored] == [
        ("断线时附上的文件", ["大文件.pdf"])]
    assert page.errors == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_upload_the_restarted_server_forgot_begins_again_and_a_refusal_fails_the_message(
        browser: Any, tmp_path: Path, bg: Background) -> None:
    """A server restarted while the page was away has forgotten the unfinished upload: the page
    begins it again. Refused then (the operator lowered media.max_bytes meanwhile), the message
    does not go without its file: it stays failed, the file named with why, and Retry, once the
    limit is back, uploads the file again and sends the message with it."""
    srv = ServerProcess(tmp_path)
    srv.config.write_text(srv.config.read_text().replace("port = 0", f"port = {_free_port()}", 1))
    plain = srv.config.read_text()
    srv.start()
    try:
        owner = bg.run(srv.user())
        gid = bg.run(open_group(owner))
        page = new_page(browser, srv)
        cut = ChunkCut(page, nth=2, deliver=False)
        login(page, owner.username)
        page.click(f"#group-list [data-gid='{gid}']")
        pdf = _big_pdf()
        page.set_input_files("#file-input", files=[{"name": "大文件.pdf", "mimeType": "application/pdf",
                                                   "buffer": pdf}])
        page.wait_for_selector("#status.status-reconnecting")
        page.fill("#composer-text", "重启后的文件")
        page.press("#composer-text", "Enter")

        srv.kill9()
        srv.config.write_text(plain + "\n[media]\nmax_bytes = 1000000\n")
        srv.start()
        cut.mend()
        page.wait_for_selector("#status.status-connected", timeout=20_000)
        failed = page.locator("#outbox .pending.failed", has_text="重启后的文件")
        expect(failed.locator(".send-error")).to_contain_text("「大文件.pdf」上传失败：文件不能超过 976 KB")
        expect(failed.locator(".send-retry")).to_be_visible()
        expect(failed.locator(".send-discard")).to_be_visible()
        assert cut.begins == 2  # the server did not know the first one any more: begun again

        srv.config.write_text(plain)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGHUP)
        assert bg.run(srv.logged("config reloaded"))
        failed.locator(".send-retry").click()
        assert _sha_of_link(page, "重启后的文件") == hashlib.sha256(pdf).hexdigest()
        expect(page.locator("#outbox .pending")).to_have_count(0)

        async def stored() -> list[tuple[str, list[str]]]:
            c = await srv.client()
            try:
                await c.login(owner.username, "password123")  # type: ignore[attr-defined]
                ms = (await c.request("history", group_id=gid, limit=10))["messages"]
                return [(m["text"], [a["name"] for a in m.get("attachments", [])]) for m in ms]
            finally:
                await c.close()

        assert bg.run(stored()) == [("重启后的文件", ["大文件.pdf"])]
        assert page.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_nine_pictures_picked_at_once_all_go(browser: Any, server: ServerProcess) -> None:
    """A review's case: the server keeps 4 unfinished uploads a user, and the picker began all nine at
    once: five were refused (rate_limited) and left the tray as failed. They are sent a few at a time
    now, the others waiting their turn, and one message carries all nine."""
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    create_group(alice, "九宫格")
    # (distinct pictures: each its own file on the server, none a re-upload of another)
    files = [{"name": f"图{i}.png", "mimeType": "image/png", "buffer": tiny_png(20 + i, 20)} for i in range(9)]
    alice.set_input_files("#file-input", files=files)
    # (a refused one would leave the tray with a toast: nine done means none was)
    expect(alice.locator("#attach-tray .attach-item.done")).to_have_count(9, timeout=20000)
    alice.fill("#composer-text", "九张")
    alice.press("#composer-text", "Enter")
    expect(message(alice, "九张").locator("img.media-img")).to_have_count(9)
    assert alice.errors == []
