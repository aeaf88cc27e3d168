"""Pictures and files in the browser: chunked upload over the WebSocket, shown inline to the other
user through a signed URL, refreshed with media_url once that URL has expired."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import create_group, join_group, message, new_page, register, tiny_png

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
    assert link.get_attribute("download") == "会议纪要.pdf"
    status = alice.evaluate("async () => (await fetch(document.querySelector('#messages a.media-file').href)).status")
    assert status == 200
    # The group list previews it as a file.
    expect(alice.locator(f'.group-item[data-gid="{gid}"] .preview')).to_have_text("[文件]")

    # A type the server does not take is refused in plain language, and nothing is sent.
    exe = {"name": "x.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" * 50}
    alice.set_input_files("#file-input", files=[exe])
    alice.wait_for_selector("#toasts .toast-error:has-text('x.exe')")
    assert alice.locator("#attach-tray .attach-item").count() == 0
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
