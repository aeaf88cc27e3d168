"""The reader's side of a message's life, from a review of history, search and pins: the pins' order
after a restart, and a pin of a message deleted while the pin was checked. End to end, on both backends.
"""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all
from tests.e2e.store_hold import until_write_waits, writes_held
from tests.e2e.test_rich_messages import CONFIG, crowd


def pins_server(make_server, tmp_path):
    """The rich-messages server (its word lists), with room for ten pins."""
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("vpn下载\n", encoding="utf-8")
    return make_server(CONFIG.replace("max_pins = 2\n", "max_pins = 10\n"))


async def test_pins_keep_the_order_they_were_pinned_in_across_a_restart(make_server, tmp_path):
    """``pinned`` is "seqs in the order they were pinned". Two managers pinning at the same moment
    (the same millisecond) get an order in memory, the order their pins were made; a restart reads
    the pins back ``ORDER BY pinned_at, seq`` and so, for pins of one millisecond, by seq: every
    member's list changes order without anyone touching a pin."""
    srv = pins_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    seqs = [(await m1.send(gid, f"notice {i}"))["seq"] for i in range(8)]
    # Newest first, two managers at once: each pair is most often stored in one millisecond.
    for newer, older in zip(seqs[::-2], seqs[-2::-2], strict=True):
        await asyncio.gather(owner.request("pin_message", group_id=gid, seq=newer, on=True),
                             admin.request("pin_message", group_id=gid, seq=older, on=True))
    before = (await m1.request("group_info", group_id=gid))["pinned"]
    assert sorted(before) == sorted(seqs)
    await close_all(owner, admin, m1)
    await srv.stopped()
    srv.start()
    again = await srv.client()
    await again.login(m1.username, "password123")
    after = (await again.request("group_info", group_id=gid))["pinned"]
    assert after == before, f"pinned before the restart {before}, after it {after}"
    await again.close()


async def test_a_pin_of_a_message_deleted_while_it_was_checked_is_not_found(make_server, tmp_path):
    """Pinning needs a message the caller can see: a deleted one is ``not_found``. A manager's
    ``delete_user_messages`` (a raid's clean-up; it takes no per-message turn, nor does the
    platform's ``remove-term``) stored between the pin's read of the message and the pin's own
    write leaves the deleted message pinned: the store's pin checks only that the row exists, where
    an edit and a reaction check again that it is not deleted (nor held)."""
    srv = pins_server(make_server, tmp_path)
    gid, owner, admin, [raider] = await crowd(srv, 1)
    seq = (await raider.send(gid, "spam spam spam"))["seq"]
    async with writes_held(srv, "messages"):
        cleaning = asyncio.ensure_future(admin.call("delete_user_messages", group_id=gid, user_id=raider.user_id))
        await until_write_waits(srv, "messages")  # the clean-up's write is in flight, held
        pinning = asyncio.ensure_future(owner.call("pin_message", group_id=gid, seq=seq, on=True))
        await asyncio.sleep(0.5)  # the pin read the message (shown still) and queued its write
    cleaned, pinned = await cleaning, await pinning
    assert cleaned.get("deleted") == 1, cleaned
    [shown] = [m for m in (await owner.request("history", group_id=gid))["messages"] if m["seq"] == seq]
    assert shown.get("deleted") is True, shown
    info = await owner.request("group_info", group_id=gid)
    assert (pinned.get("code"), info["pinned"]) == ("not_found", []), (pinned, info["pinned"])
    await close_all(owner, admin, raider)
