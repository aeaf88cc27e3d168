"""Driving the web client in Debian's Chromium with Playwright: used by the tests and the screenshot script."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tests.e2e.harness import ServerProcess, new_phone

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
_names = itertools.count(int(time.time()) % 100_000)
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine (the Python client) to the end: in a thread, since sync Playwright owns this one's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def launch(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def new_page(browser: Any, srv: ServerProcess, *, width: int = 1200, height: int = 800, lang: str = "zh-CN") -> Any:
    """A page in a fresh context (its own localStorage), console errors collected in ``page.errors``."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale=lang)
    page = ctx.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: _console(page, msg))
    page.goto(f"http://127.0.0.1:{srv.port}/")
    return page


def _console(page: Any, msg: Any) -> None:
    # Chromium's own report of a refused connection while the server is down is not a script error.
    if msg.type == "error" and not msg.text.startswith(("WebSocket connection to ", "Failed to load resource")):
        page.errors.append(msg.text)


def register(page: Any, srv: ServerProcess, name: str | None = None, display: str | None = None) -> str:
    """Register through the UI (the code is read from the server's SMS outbox) and end logged in."""
    name = name or f"web{next(_names)}"
    phone = new_phone()
    page.click("#to-register")
    page.fill("#reg-phone", phone)
    page.click("#reg-get-code")
    page.wait_for_selector("#form-msg.ok")
    page.fill("#reg-code", srv.last_code(phone))
    page.fill("#reg-username", name)
    page.fill("#reg-password", "password123")
    page.fill("#reg-display", display or name.title())
    page.click("#reg-submit")
    page.wait_for_selector("#group-list")
    page.wait_for_selector("#status.status-connected")
    return name


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


def close_dialogs(page: Any) -> None:
    page.evaluate("() => document.querySelectorAll('dialog[open]').forEach(d => d.close())")
