"""A batch lingers to fill only while a flow is under way, not for the first record of a new one."""

from shared.kafka_edge import batch_linger


def test_a_record_already_waiting_lets_the_batch_fill() -> None:
    assert batch_linger(0.0, 0.05) == 0.05
    assert batch_linger(0.001, 0.05) == 0.05


def test_a_record_waited_for_goes_at_once() -> None:
    assert batch_linger(0.01, 0.05) == 0.0
    assert batch_linger(0.3, 0.05) == 0.0


def test_no_linger_asked_is_none_given() -> None:
    assert batch_linger(0.0, 0.0) == 0.0
