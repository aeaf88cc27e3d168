"""Driving the web client in Debian's Chromium with Playwright: used by the tests and the screenshot script."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from client_demo.client import Client
from tests.e2e.harness import ServerProcess, new_phone, open_group
from tests.web.pool import PagePool

# Debian's Chromium, in two packages built from one source (one version, the same Blink and V8):
# ``chromium``, the browser people run, and ``chromium-headless-shell``, the same engine without the
# browser's own layer (windows, profile services, its UI), which is what Playwright itself runs for
# headless tests. The browser tests run in the shell where it is installed (.ci/run installs both):
# the 305 browser tests took 40 % less CPU in it than in the full browser (measured 2026-12-08,
# ``pytest -n 4 tests/web``: 281 against 491 CPU-seconds, 265 s against 454 s). The full browser
# still runs the chat end to end (tests/web/test_chat.py, ``full_browser``), and all of them with
# ``QUNGUAN_TEST_CHROMIUM=/usr/bin/chromium``.
FULL_CHROMIUM = "/usr/bin/chromium"
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
CHROMIUM = os.environ.get("QUNGUAN_TEST_CHROMIUM") or (
    HEADLESS_SHELL if Path(HEADLESS_SHELL).exists() else FULL_CHROMIUM)
BROWSER_FIXTURES = ("browser", "full_browser")  # the tests that use the shared Playwright (conftest.py)
# Beside headless and no sandbox (root): Chromium's services a test never uses, and fewer processes
# (no site isolation: one test's pages are all at one origin; the GPU work in the browser process, and
# no GPU compositing, which is software here anyway). Chromium spends about 40 % of the whole suite's
# CPU; these cut its CPU in the browser tests by about a seventh (measured 2026-12-07: 44 tests of
# four files, 183-191 CPU-s of all processes without them, 158 with them, the same tests passing).
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        ("--disable-features=site-per-process,IsolateOrigins,PaintHolding,BackForwardCache,Translate,"
        "OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
        "InterestFeedContentSuggestions,CalculateNativeWinOcclusion,HeavyAdPrivacyMitigations,LensOverlay"),
        "--disable-site-isolation-trials", "--in-process-gpu", "--disable-gpu-compositing",
        "--disable-smooth-scrolling"]
_names = itertools.count(int(time.time()) % 100_000)
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine (the Python client) to the end: in a thread, since sync Playwright owns this one's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Background:
    """An event loop in a thread of its own, for Python clients that live through a whole test (a
    client belongs to the loop it was made in, and run_async makes a new loop each time)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[Client] = []  # the clients made here, closed at the end

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        result = asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
        if isinstance(result, Client):
            self.clients.append(result)
        return result

    def close(self) -> None:
        """Close the clients made here (left open, each held the server's stop for its 2 s close
        timeout: about a tenth of the browser tests' time), cancel what still runs and close the loop."""

        async def close_clients() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True), 3)

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(close_clients(), 10)
        self.run(cancel_all(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Cable:
    """The page's WebSocket through a route the test can cut: ``cut()`` closes the connection and
    refuses the page's reconnects (the page shows "reconnecting") until ``mend()``. Install it before
    the page connects (then reload)."""

    def __init__(self, page: Any) -> None:
        self.routes: list[Any] = []
        self.away = False
        page.route_web_socket("**/ws", self._through)

    def _through(self, ws: Any) -> None:
        if self.away:
            ws.close(code=1001)
            return
        self.routes.append(ws)
        ws.connect_to_server()

    def cut(self) -> None:
        self.away = True
        self.routes[-1].close(code=1001)

    def mend(self) -> None:
        self.away = False


def late_answers(op: str, ms: int, events: tuple[str, ...] = ()) -> str:
    """A page init script: while ``window.__slow`` is set, the page takes each answer to ``op`` ``ms``
    after it came (``window.__held`` counts those held), and the frames that come meanwhile (live
    events) first: a server slow to answer, or an event that overtook an answer read before it. The
    events named in ``events`` are held as long (the answer and its own event both on their way)."""
    script = """
(() => {
  const asked = new Set();
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    try { const f = JSON.parse(d); if (f.op === OP && window.__slow) asked.add(f.rid); } catch {}
    return send.call(this, d);
  };
  const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage");
  Object.defineProperty(WebSocket.prototype, "onmessage", { configurable: true,
    get() { return desc.get.call(this); },
    set(fn) {
      desc.set.call(this, fn && ((e) => {
        let f = null; try { f = JSON.parse(e.data); } catch {}
        const late = f && (asked.has(f.re) || (window.__slow && EVENTS.includes(f.ev)));
        if (!late) { fn.call(this, e); return; }
        asked.delete(f.re);
        window.__held = (window.__held || 0) + 1;
        setTimeout(() => fn.call(this, e), MS);
      }));
    } });
})();
"""
    return script.replace("OP", json.dumps(op)).replace("MS", str(int(ms))).replace("EVENTS", json.dumps(list(events)))


def listed_group(bg: Background, client: Client, gid: str) -> dict[str, Any]:
    """Group ``gid`` as ``my_groups`` lists it for ``client`` now (its read_seq, unread...)."""
    return next(g for g in bg.run(client.request("my_groups"))["groups"] if g["group_id"] == gid)


def until(ok: Any, timeout: float = 10) -> None:
    """Wait until ``ok()`` is true (what the page says to the server after a while: its read marks)."""
    end = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def admin_ok(srv: ServerProcess, *args: str) -> str:
    """Run ``qunguan admin ARGS`` against ``srv``; its output (the command must succeed)."""
    rc, out, err = run_async(srv.admin(*args))
    assert rc == 0, err
    return out


def launch(pw: Any, executable: str = CHROMIUM) -> Any:
    return pw.chromium.launch(executable_path=executable, args=ARGS)


# The browser the browser tests of this process share: (Playwright, its browser), or None.
_shared: tuple[Any, Any] | None = None


def shared_browser() -> Any:
    """This process's browser, launched by the first test that asks and kept for the next ones.

    A launch and close cost Chromium and Playwright's driver about two CPU-seconds (measured
    2026-12-08), once per test module and process when each module had a browser of its own. It is
    closed by :func:`close_shared_browser` before any test that does not ask for it (tests/conftest.py):
    Playwright's sync API holds the thread's asyncio loop as running, so neither an asyncio test nor
    ``asyncio.run`` could run beside it."""
    global _shared
    if _shared is not None and _shared[1].is_connected():
        return _shared[1]
    close_shared_browser()  # (one that crashed, if any)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = launch(pw)
    except BaseException:
        pw.stop()
        raise
    b.pool = PagePool()
    _shared = (pw, b)
    return b


def launch_full_browser() -> Any:
    """Debian's full Chromium, driven by the shared browser's Playwright (one sync Playwright a
    thread); its pages are not pooled, and the caller closes it."""
    shared_browser()
    assert _shared is not None
    return launch(_shared[0], FULL_CHROMIUM)


def give_back_pages() -> None:
    """At a test's end: its pages closed, or given back to the shared browser's pool (tests/web/pool.py)."""
    if _shared is not None:
        _shared[1].pool.give_back_or_close(_shared[1])


def close_shared_browser() -> None:
    """Close the shared browser, if one is open, and the Playwright that drove it."""
    global _shared
    if _shared is None:
        return
    pw, b = _shared
    _shared = None
    try:
        with contextlib.suppress(Exception):  # (a browser that already went away)
            b.close()
    finally:
        pw.stop()


def new_page(browser: Any, srv: ServerProcess, *, width: int = 1200, height: int = 800, lang: str = "zh-CN",
             touch: bool = False, clock_off_s: float = 0.0, clock: bool = False) -> Any:
    """A page in a fresh context (its own localStorage), console errors collected in ``page.errors``;
    ``touch``: a phone's (a touch screen, no mouse: ``pointer: coarse``, ``hover: none``);
    ``clock_off_s``: the computer's clock that far ahead of the server's (behind: negative), running;
    ``clock``: the page's clock and timers running at the real pace until the test moves them on
    (``page.clock.fast_forward``), so a test of what happens after half a minute idle need not wait it."""
    origin = f"http://127.0.0.1:{srv.port}"

    def make_context() -> Any:
        phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 3} if touch else {}
        return browser.new_context(viewport={"width": width, "height": height}, locale=lang, **phone)

    pool: PagePool | None = getattr(browser, "pool", None)
    if pool is not None and not (clock_off_s or clock):
        page = pool.take((width, height, lang, touch), make_context, watch_errors, origin)
        page.errors.clear()
    else:
        ctx = make_context()
        if clock_off_s or clock:
            ctx.clock.install(time=time.time() + clock_off_s)
        page = watch_errors(ctx.new_page())
    page.goto(origin + "/")
    return page


def watch_errors(page: Any) -> Any:
    """Collect ``page``'s script errors, thrown or logged with ``console.error``, in ``page.errors``:
    every tab a test opens, however it opens it, so that ``page.errors == []`` checks both."""
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: _console(page, msg))
    return page


def _console(page: Any, msg: Any) -> None:
    # Chromium's own report of a refused connection while the server is down is not a script error.
    if msg.type == "error" and not msg.text.startswith(("WebSocket connection to ", "Failed to load resource")):
        page.errors.append(msg.text)


def submit_registration(page: Any, srv: ServerProcess, name: str, display: str) -> None:
    """Fill the registration form with a new phone (the code read from the server's SMS outbox)
    and submit it; what comes back is the caller's to wait for."""
    phone = new_phone()
    page.click("#to-register")
    page.fill("#reg-phone", phone)
    page.click("#reg-get-code")
    page.wait_for_selector("#form-msg.ok")
    page.fill("#reg-code", srv.last_code(phone))
    page.fill("#reg-username", name)
    page.fill("#reg-password", "password123")
    page.fill("#reg-display", display)
    page.click("#reg-submit")


def register(page: Any, srv: ServerProcess, name: str | None = None, display: str | None = None,
             *, form: bool = False) -> str:
    """A new user, logged in on ``page`` through the login form. Registered by the Python client (a
    code, then ``register``, as the form does) unless ``form``: filling the registration form cost
    Chromium about two thirds of a second of CPU more than the login form (measured 2026-12-07), in
    about 140 registrations; the form itself is the test of the tests that pass ``form=True`` or call
    :func:`submit_registration`."""
    name = name or f"web{next(_names)}"
    display = display or name.title()
    if form:
        submit_registration(page, srv, name, display)
        page.wait_for_selector("#group-list")
        page.wait_for_selector("#status.status-connected")
        page.wait_for_selector("body[data-synced]")   # every read of the login's start answered
        return name
    run_async(_register_by_client(srv, name, display))
    login(page, name)
    return name


async def _register_by_client(srv: ServerProcess, name: str, display: str) -> None:
    client = await srv.client()
    try:
        await srv.register(client, name, display)
    finally:
        await client.close()


def create_group(page: Any, name: str = "读书会", policy: str = "open") -> str:
    page.click("#btn-new-group")
    page.fill("#create-name", name)
    page.select_option("#create-category", "study")
    page.select_option("#create-policy", policy)
    page.click("#create-btn")
    page.wait_for_selector("#chat-gid")
    gid: str = page.inner_text("#chat-gid")
    return gid


def join_group(page: Any, gid: str) -> None:
    page.click("#btn-new-group")
    page.fill("#join-id", gid)
    page.click("#join-btn")


def send(page: Any, text: str) -> None:
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")


def message_texts(page: Any) -> list[str]:
    texts: list[str] = page.locator("#messages .msg .text").all_inner_texts()
    return texts


def seqs(page: Any) -> list[int]:
    return [int(s) for s in page.locator("#messages .msg").evaluate_all("ns => ns.map(n => n.dataset.seq)")]


def load_all_earlier(page: Any, rounds: int = 10) -> None:
    """Presses 加载更早的消息 until the chat holds its whole history (at most ``rounds`` pages)."""
    for _ in range(rounds):
        if page.locator("#load-earlier:enabled").count() == 0:
            return
        before = len(seqs(page))
        # Pressed where it is, not scrolled to first: scrolling the chat to its top loads the
        # earlier page by itself, and the last one disables the button before a click lands.
        page.evaluate("() => document.querySelector('#load-earlier').click()")
        page.wait_for_function(f"() => document.querySelectorAll('#messages .msg').length > {before}"
                               " || document.querySelector('#load-earlier').disabled")


def close_dialogs(page: Any) -> None:
    page.evaluate("() => document.querySelectorAll('dialog[open]').forEach(d => d.close())")


def login(page: Any, username: str, password: str = "password123") -> None:
    """Log in through the UI (a second device of a user registered before)."""
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#status.status-connected")
    # Every read of the login's start answered (its catch-up, the held texts, the outcomes): an
    # answer that came after the test acted (an operator command, a click) would redraw over it.
    page.wait_for_selector("body[data-synced]")


def message(page: Any, text: str) -> Any:
    """The message whose text contains ``text`` (a Playwright locator, waited for)."""
    loc = page.locator("#messages .msg", has=page.locator(".text", has_text=text)).last
    loc.wait_for()
    return loc


def open_actions(page: Any, text: str) -> None:
    """Open the actions dialog (⋯) of the message containing ``text``."""
    msg = message(page, text)
    msg.hover()
    msg.locator(".more").click()
    page.wait_for_selector("#message-actions")


def tiny_png(width: int = 8, height: int = 6, rgb: tuple[int, int, int] = (31, 122, 92)) -> bytes:
    """A real PNG (the server checks magic numbers) of one colour."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# -- public accounts -------------------------------------------------------------------------------
def verify_identity(page: Any) -> None:
    """Verify the user's identity through the profile dialog (a fresh valid ID number)."""
    from tests.e2e.harness import new_id_number

    page.click("#btn-profile")
    page.fill("#verify-name", "张三")
    page.fill("#verify-id", new_id_number())
    page.click("#verify-btn")
    page.wait_for_selector("dialog .form-msg.ok")
    close_dialogs(page)


def open_accounts(page: Any) -> None:
    """Switch the sidebar to public accounts."""
    page.click("#tab-accounts")
    page.wait_for_selector("#account-side:visible")


def create_account(page: Any, name: str, category: str = "culture", intro: str = "") -> str:
    """Open a public account through the UI (the user must be verified); returns its id, its page open."""
    open_accounts(page)
    page.click("#btn-new-account")
    page.fill("#account-create-name", name)
    page.select_option("#account-create-category", category)
    page.fill("#account-create-intro", intro)
    page.click("#account-create-submit")
    page.wait_for_selector(f"#account-name:has-text('{name}')")
    aid: str = page.inner_text("#account-id")
    return aid


def find_account(page: Any, aid: str) -> None:
    """Open an account's page by its id."""
    open_accounts(page)
    page.click("#btn-find-account")
    page.fill("#find-account-id", aid)
    page.click("#find-account-submit")
    page.wait_for_selector(f"#account-pane[data-aid='{aid}'] #account-name")


def publish(page: Any, title: str, body: str, mode: str = "open", images: list[dict[str, Any]] | None = None) -> None:
    """Publish from the open account's page; waits until the post is in its list."""
    page.click("#btn-publish")
    page.fill("#publish-title", title)
    page.fill("#publish-body", body)
    page.select_option("#publish-comments", mode)
    if images:
        page.set_input_files("#publish-files", files=images)
    page.click("#publish-submit")
    page.wait_for_selector("#publish-dialog", state="detached")
    page.locator("#post-list .post-item", has_text=title).wait_for()


def open_post(page: Any, title: str) -> None:
    page.locator("#post-list .post-item", has_text=title).click()
    page.wait_for_selector(f"#post-title:has-text('{title}')")


def tea_room(bg: Background, server: ServerProcess) -> tuple[Any, Any, str]:
    """A group 茶话会 its owner opened and a member joined: (the owner's client, the member's, its id)."""
    owner, member = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner, name="茶话会"))
    bg.run(member.request("join_group", group_id=gid))
    return owner, member, gid


def three_in_a_group(bg: Background, server: ServerProcess) -> tuple[str, Any, Any, Any]:
    """A group Alice (its owner) opened, Bob and Carol joined: its id and their clients."""
    alice = bg.run(server.user())
    bob = bg.run(server.user())
    carol = bg.run(server.user())
    gid = bg.run(open_group(alice))
    for c in (bob, carol):
        bg.run(c.request("join_group", group_id=gid))
    return gid, alice, bob, carol
