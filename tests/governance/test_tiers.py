import pytest

from governance.tiers import (
    DEFAULT_CREDIT_LEVELS,
    DEFAULT_SIZE_CLASSES,
    Caps,
    CreditLevel,
    SizeClass,
    caps_for,
    check_size_class,
    credit_level,
    size_class,
)
from protocol.errors import ContractError


@pytest.mark.parametrize(
    "score,level",
    [(-50, 1), (0, 1), (59, 1), (60, 2), (99, 2), (100, 3), (149, 3), (150, 4), (10_000, 4)],
)
def test_credit_level_default_thresholds(score, level):
    assert credit_level(score, DEFAULT_CREDIT_LEVELS) == level


def test_credit_level_below_every_threshold_is_one():
    levels = (CreditLevel(min_score=10), CreditLevel(min_score=20))
    assert credit_level(5, levels) == 1
    assert credit_level(20, levels) == 2
    assert credit_level(0, ()) == 1


def test_caps_for_default_levels():
    platform = Caps()
    # Level 1 caps a group at 200 members, as level 2 does: it fell back to the platform's 500, so
    # an owner whose score fell from level 2 to 1 held a group allowed to grow (a reviewer's find).
    assert caps_for(1, platform, DEFAULT_CREDIT_LEVELS) == Caps(
        max_members=200, max_groups_created=0, max_groups_joined=20, max_admins=10
    )
    for level in range(1, len(DEFAULT_CREDIT_LEVELS)):  # a lower level never allows more
        lower, higher = (caps_for(n, platform, DEFAULT_CREDIT_LEVELS) for n in (level, level + 1))
        assert all(getattr(lower, f) <= getattr(higher, f) for f in Caps.__slots__), (level, lower, higher)
    assert caps_for(2, platform, DEFAULT_CREDIT_LEVELS) == Caps(
        max_members=200, max_groups_created=2, max_groups_joined=500, max_admins=10
    )
    assert caps_for(3, platform, DEFAULT_CREDIT_LEVELS) == platform
    assert caps_for(4, platform, DEFAULT_CREDIT_LEVELS) == Caps(
        max_members=2000, max_groups_created=20, max_groups_joined=500, max_admins=10
    )


def test_caps_for_none_falls_back_to_platform():
    platform = Caps(max_members=300, max_groups_created=5, max_groups_joined=50, max_admins=3)
    levels = (CreditLevel(0, max_admins=1),)
    assert caps_for(1, platform, levels) == Caps(300, 5, 50, 1)


def test_caps_for_clamps_level_and_handles_no_levels():
    platform = Caps()
    assert caps_for(99, platform, DEFAULT_CREDIT_LEVELS) == caps_for(4, platform, DEFAULT_CREDIT_LEVELS)
    assert caps_for(0, platform, DEFAULT_CREDIT_LEVELS) == caps_for(1, platform, DEFAULT_CREDIT_LEVELS)
    assert caps_for(3, platform, ()) is platform


@pytest.mark.parametrize(
    "count,name", [(0, "small"), (1, "small"), (99, "small"), (100, "medium"), (499, "medium"),
                   (500, "large"), (5000, "large")]
)
def test_size_class(count, name):
    assert size_class(count, DEFAULT_SIZE_CLASSES).name == name


def test_size_class_none_below_every_class():
    assert size_class(5, (SizeClass("big", 10),)) is None
    assert size_class(5, ()) is None
    check_size_class(5, (SizeClass("big", 10, require_id=True, min_credit_level=9),),
                     owner_level=1, owner_id_verified=False)


def test_small_group_needs_nothing():
    check_size_class(99, DEFAULT_SIZE_CLASSES, owner_level=1, owner_id_verified=False)


def test_medium_needs_verified_identity():
    with pytest.raises(ContractError) as exc:
        check_size_class(100, DEFAULT_SIZE_CLASSES, owner_level=4, owner_id_verified=False)
    assert exc.value.code == "verification_required"
    assert "medium" in exc.value.reason


def test_medium_needs_credit_level_two():
    with pytest.raises(ContractError) as exc:
        check_size_class(100, DEFAULT_SIZE_CLASSES, owner_level=1, owner_id_verified=True)
    assert exc.value.code == "credit_too_low"
    assert "2" in exc.value.reason
    check_size_class(100, DEFAULT_SIZE_CLASSES, owner_level=2, owner_id_verified=True)


def test_large_needs_credit_level_three():
    with pytest.raises(ContractError) as exc:
        check_size_class(500, DEFAULT_SIZE_CLASSES, owner_level=2, owner_id_verified=True)
    assert exc.value.code == "credit_too_low"
    assert "large" in exc.value.reason
    check_size_class(500, DEFAULT_SIZE_CLASSES, owner_level=3, owner_id_verified=True)


def test_verification_is_checked_before_credit():
    with pytest.raises(ContractError) as exc:
        check_size_class(500, DEFAULT_SIZE_CLASSES, owner_level=1, owner_id_verified=False)
    assert exc.value.code == "verification_required"


def test_caps_going_down_names_each_level_that_allows_less_than_the_one_below():
    from governance.tiers import DEFAULT_CREDIT_LEVELS, caps_going_down

    assert caps_going_down(Caps(), DEFAULT_CREDIT_LEVELS) == []
    assert caps_going_down(Caps(max_members=100), DEFAULT_CREDIT_LEVELS) == [(3, "max_members", 100, 200)]
    assert caps_going_down(Caps(max_members=5000, max_groups_created=1), DEFAULT_CREDIT_LEVELS) == [
        (3, "max_groups_created", 1, 2), (4, "max_members", 2000, 5000)]
