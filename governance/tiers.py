"""Caps, credit levels and size classes (Art. 7, 8).

The platform caps come from ``[limits]``; a user's credit level may override
any of them (lower or higher). Size classes say what an owner needs before a
group may reach a given member count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from protocol.errors import ContractError


@dataclass(frozen=True, slots=True)
class Caps:
    max_members: int = 500
    max_groups_created: int = 10
    max_groups_joined: int = 500
    max_admins: int = 10


@dataclass(frozen=True, slots=True)
class CreditLevel:
    """Level N applies from ``min_score`` up; ``None`` caps fall back to the platform's."""

    min_score: int
    max_members: int | None = None
    max_groups_created: int | None = None
    max_groups_joined: int | None = None
    max_admins: int | None = None


@dataclass(frozen=True, slots=True)
class SizeClass:
    """Groups with at least ``min_members`` members belong to this class."""

    name: str
    min_members: int
    require_id: bool = False
    min_credit_level: int = 1


@dataclass(frozen=True, slots=True)
class ActivityClass:
    """Groups averaging at least ``min_messages_per_day`` over the recent window."""

    name: str
    min_messages_per_day: float


DEFAULT_CREDIT_LEVELS: tuple[CreditLevel, ...] = (
    # (a group its owner still holds after falling to level 1 is capped as at level 2, never above it)
    CreditLevel(min_score=0, max_members=200, max_groups_created=0, max_groups_joined=20),
    CreditLevel(min_score=60, max_members=200, max_groups_created=2),
    CreditLevel(min_score=100),
    CreditLevel(min_score=150, max_members=2000, max_groups_created=20),
)

DEFAULT_SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass("small", 0),
    SizeClass("medium", 100, require_id=True, min_credit_level=2),
    SizeClass("large", 500, require_id=True, min_credit_level=3),
)


DEFAULT_ACTIVITY_CLASSES: tuple[ActivityClass, ...] = (
    ActivityClass("dormant", 0.0),
    ActivityClass("quiet", 1.0),
    ActivityClass("active", 50.0),
    ActivityClass("busy", 1000.0),
)


def credit_level(score: int, levels: Sequence[CreditLevel]) -> int:
    """1-based index of the highest level whose ``min_score`` the score reaches.

    ``levels`` is sorted by ``min_score`` (config validation guarantees it). A
    score below every threshold is level 1.
    """
    level = 1
    for i, lvl in enumerate(levels, start=1):
        if score >= lvl.min_score:
            level = i
    return level


def caps_for(level: int, platform: Caps, levels: Sequence[CreditLevel]) -> Caps:
    if not levels:
        return platform
    lvl = levels[max(0, min(level, len(levels)) - 1)]
    overrides = {name: getattr(lvl, name) for name in CAP_NAMES if getattr(lvl, name) is not None}
    return replace(platform, **overrides)


CAP_NAMES = ("max_members", "max_groups_created", "max_groups_joined", "max_admins")


def caps_going_down(platform: Caps, levels: Sequence[CreditLevel]) -> list[tuple[int, str, int, int]]:
    """Where a higher credit level allows less than the level below it, once the platform's caps
    fill in what a level leaves unset: ``(level, cap, its value, the level below's)``, 1-based. The
    default levels set some caps and leave others to ``[limits]``, so lowering or raising a limit
    could make level 3 allow a smaller group than level 2 without a word."""
    found = []
    for n in range(2, len(levels) + 1):
        below, here = caps_for(n - 1, platform, levels), caps_for(n, platform, levels)
        found += [(n, name, getattr(here, name), getattr(below, name))
                  for name in CAP_NAMES if getattr(here, name) < getattr(below, name)]
    return found


def size_class(member_count: int, classes: Sequence[SizeClass]) -> SizeClass | None:
    found = None
    for cls in classes:
        if member_count >= cls.min_members:
            found = cls
    return found


def check_size_class(
    member_count: int,
    classes: Sequence[SizeClass],
    *,
    owner_level: int,
    owner_id_verified: bool,
) -> None:
    """Refuse a group reaching ``member_count`` when its owner does not meet that class."""
    cls = size_class(member_count, classes)
    if cls is None:
        return
    if cls.require_id and not owner_id_verified:
        raise ContractError(
            "verification_required",
            f"a {cls.name} group needs an owner with verified identity",
        )
    if owner_level < cls.min_credit_level:
        raise ContractError(
            "credit_too_low",
            f"a {cls.name} group needs an owner at credit level {cls.min_credit_level} or above",
        )


def activity_class(
    messages_in_window: int, window_days: int, classes: Sequence[ActivityClass]
) -> ActivityClass | None:
    """The class of a group averaging ``messages_in_window / window_days`` messages a day."""
    per_day = messages_in_window / max(window_days, 1)
    found = None
    for cls in classes:
        if per_day >= cls.min_messages_per_day:
            found = cls
    return found
