"""The platform's notices are kept in memory for 30 days after they went out (State.keep_notice)."""

from __future__ import annotations

from server.state import PLATFORM_NOTICES_KEPT_MS, PlatformNotice, State


def _notice(at: int) -> PlatformNotice:
    return PlatformNotice(at, f"notice {at}", None, False, "ops")


def test_a_new_notice_lets_go_of_those_past_the_window_and_keeps_the_rest_in_order() -> None:
    state = State()
    start = 1_700_000_000_000
    for at in (start, start + 1000, start + PLATFORM_NOTICES_KEPT_MS):
        state.keep_notice(_notice(at))
    assert [n.at for n in state.platform_notices] == [start, start + 1000, start + PLATFORM_NOTICES_KEPT_MS]
    state.keep_notice(_notice(start + PLATFORM_NOTICES_KEPT_MS + 1))  # the first is now past the window
    assert [n.at for n in state.platform_notices] == [start + 1000, start + PLATFORM_NOTICES_KEPT_MS,
                                                     start + PLATFORM_NOTICES_KEPT_MS + 1]
    state.keep_notice(_notice(start + 3 * PLATFORM_NOTICES_KEPT_MS))  # long after all of them
    assert [n.at for n in state.platform_notices] == [start + 3 * PLATFORM_NOTICES_KEPT_MS]


def test_notices_are_given_after_a_point_and_never_past_the_window() -> None:
    state = State()
    start = 1_700_000_000_000
    for at in (start, start + 1000, start + 2000):
        state.keep_notice(_notice(at))
    assert [n.at for n in state.notices_after(0, start + 5000)] == [start, start + 1000, start + 2000]
    assert [n.at for n in state.notices_after(start + 1000, start + 5000)] == [start + 2000]
    assert state.notices_after(start + 2000, start + 5000) == []
    # 30 days on, with no notice since to let them go: the first two are past the window
    later = start + 1500 + PLATFORM_NOTICES_KEPT_MS
    assert [n.at for n in state.notices_after(0, later)] == [start + 2000]
