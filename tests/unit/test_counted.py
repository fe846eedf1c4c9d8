"""Counts in texts people read take the noun in the right number."""

from shared.counted import counted


def test_one_takes_the_singular_and_every_other_count_the_plural() -> None:
    assert counted(1, "message") == "1 message"
    assert counted(0, "message") == "0 messages"
    assert counted(2, "folder") == "2 folders"
    assert counted(21, "item") == "21 items"


def test_a_count_read_back_as_text_and_an_irregular_plural() -> None:
    assert counted("1", "setting") == "1 setting"
    assert counted("12", "entry", "entries") == "12 entries"
    assert counted("unknown", "message") == "unknown messages"


def test_the_undo_notice_counts_in_the_right_number() -> None:
    from services.tracker.notify import compose

    fields = {"state": "undone", "undo_removed_messages": "1", "undo_removed_folders": "3",
              "undo_restored_settings": "0"}
    body = compose("m1", "undo", fields, [], "mf@ops.test", "me@customer.test").get_content()
    assert "Undo removed 1 message and 3 folders, and restored 0 settings." in body
