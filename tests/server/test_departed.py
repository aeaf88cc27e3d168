"""A group remembers a member who left only while their mute or last send still binds a rejoin
(server/handlers/groups.py: remember_departed); the leak reviewer saw the table only grow."""

from __future__ import annotations

from typing import Any

from governance.moderation import MAX_SLOW_MODE_SECONDS
from server.handlers.groups import remember_departed
from server.state import Group, Member


class _Clock:
    def __init__(self) -> None:
        self.ms = 10**12

    def now_ms(self) -> int:
        return self.ms


def test_members_who_left_are_forgotten_once_nothing_of_theirs_binds() -> None:
    ctx: Any = _Clock()
    g = Group("100000001", "g", "friends", "open", "u0", 0)
    for i in range(1_000):  # each spoke, then left at once: their send binds for an hour
        ctx.ms += 1_000
        remember_departed(ctx, g, f"u{i}", Member("member", 1, last_sent_ms=ctx.ms))
    ctx.ms += MAX_SLOW_MODE_SECONDS * 1000 + 1
    muted = Member("member", 1, muted_until=ctx.ms + 86_400_000)
    remember_departed(ctx, g, "m1", muted)
    assert set(g.departed) == {"m1"}  # (it held 1,000 and more before): a mute still in force is kept
    assert g.departed["m1"] is muted


def test_a_few_who_left_are_forgotten_too() -> None:
    """Swept only past 64, a group kept up to 63 who no longer bound, for good (a soak's 4,757 grew to
    13,377 in 15 minutes across 3,000 groups)."""
    ctx: Any = _Clock()
    g = Group("100000001", "g", "friends", "open", "u0", 0)
    for i in range(5):
        remember_departed(ctx, g, f"u{i}", Member("member", 1, last_sent_ms=ctx.ms))
    ctx.ms += MAX_SLOW_MODE_SECONDS * 1000 + 1
    remember_departed(ctx, g, "quiet", Member("member", 1))  # (nothing of theirs binds: not kept)
    assert g.departed == {}
