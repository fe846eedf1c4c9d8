"""The session rule's memory of what it has seen: no round is judged before more than ``judged_after``
messages were shown to it (the loader's write lanes: a migration that fits in one task keeps one session)."""

from __future__ import annotations

from shared.session_target import SessionTarget


def test_rounds_are_judged_only_past_the_messages_it_was_told_to_wait_for() -> None:
    rule = SessionTarget(cap=8, sessions=1, judged_after=500)
    assert rule.observe(499, 0.1, 1) == 1
    assert rule.observe(1, 0.1, 1) == 1  # 500 seen: not more than 500, not judged
    assert rule.observe(1, 0.1, 1) == 2  # 501: this round is judged (the first judged round grows)
    assert rule.seen == 501


def test_the_round_that_passes_the_count_is_judged_and_rounds_before_leave_no_rate() -> None:
    rule = SessionTarget(cap=8, sessions=1, judged_after=10)
    assert rule.observe(10, 5.0, 1) == 1 and rule.last_rate == 0.0  # a slow round before: not remembered
    assert rule.observe(11, 0.5, 1) == 2 and rule.last_rate == 22.0


def test_messages_of_rounds_that_say_nothing_still_count() -> None:
    """A round with fewer busy sessions than the target, or without a measured time, is not judged, but what it
    wrote counts towards the messages seen."""
    rule = SessionTarget(cap=8, sessions=2, judged_after=100)
    assert rule.observe(60, 0.0, 2) == 2
    assert rule.observe(60, 0.1, 1) == 2  # 120 seen, but one of two sessions used: says nothing
    assert rule.observe(60, 0.1, 2) == 4
    assert rule.seen == 180


def test_without_a_count_every_round_is_judged_as_before() -> None:
    rule = SessionTarget(cap=8)  # the extractor's rule: four sessions, judged from the first round
    assert (rule.sessions, rule.observe(1, 0.1, 4)) == (4, 8)
