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
