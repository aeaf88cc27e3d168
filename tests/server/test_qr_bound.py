"""The QR drawing thread takes at most qr.MAX_WAITING codes waiting; more are refused (Busy, a 503
at the route) instead of queueing CPU the node's chats would wait behind, and taken again once
the queue drains."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server.web import qr


async def test_codes_past_the_waiting_bound_are_refused_until_the_queue_drains(monkeypatch) -> None:
    gate = threading.Event()

    def slow(text: str) -> bytes:
        gate.wait(10)
        return text.encode()

    monkeypatch.setattr(qr, "_cached", slow)
    waiting = [asyncio.ensure_future(qr.draw(f"t{i}")) for i in range(qr.MAX_WAITING)]
    await asyncio.sleep(0.05)
    with pytest.raises(qr.Busy):
        await qr.draw("one too many")
    gate.set()
    assert await asyncio.gather(*waiting) == [f"t{i}".encode() for i in range(qr.MAX_WAITING)]
    assert await qr.draw("again") == b"again"


async def test_a_real_code_is_drawn() -> None:
    svg = await qr.draw("https://example.com/#join=abc")
    assert svg.startswith(b"<svg") and b"</svg>" in svg
