"""A message's line in the report: flags not kept, then what else the target could not hold (mail_batches)."""

from __future__ import annotations

from shared.adapters.mail_batches import placement_note
from shared.adapters.ports import Placed


def test_a_message_note_joins_flags_not_kept_and_what_the_target_could_not_hold() -> None:
    assert placement_note(Placed("INBOX")) == ""
    assert placement_note(Placed("INBOX", lossy=("an attached message became an .eml file attachment",))) == \
        "an attached message became an .eml file attachment"
    both = placement_note(Placed("INBOX", not_kept=("$Label1",), lossy=("x" * 400,)))
    assert both.startswith("copied without the flags the target cannot store: $Label1; xxx") and len(both) == 300
