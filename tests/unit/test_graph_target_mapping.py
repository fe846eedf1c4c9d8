"""The Graph target's pure mappings: MIME → the JSON create, and the neutral records → Graph JSON.

Expected values are Graph's documented shapes (patternedRecurrence, dateTimeTimeZone, MAPI property ids),
written out here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.graph.mime_message import INLINE_ATTACHMENT, graph_message, message_flags
from shared.adapters.graph.to_graph import (
    auto_reply_to_graph,
    contact_to_graph,
    date_time_zone,
    recurrence_to_graph,
    rule_to_graph,
    task_to_graph,
)
from shared.formats.ical import RecurrenceRule, TaskRecord
from shared.formats.settings import AutoReply, RuleModel
from shared.formats.vcard import ContactCard, TypedValue

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("flags", "value"), [((), 0), (("\\Seen",), 1), (("\\Draft",), 8),
                                              (("\\seen", "\\Flagged", "$Completed"), 1)])
def test_message_flags_have_the_unsent_bit_only_for_a_draft(flags: tuple[str, ...], value: int) -> None:
    assert message_flags(flags) == value


def test_a_mime_message_becomes_a_json_create_with_its_mapi_properties() -> None:
    raw = (b"From: =?utf-8?q?J=C3=B6rg?= <j@example.net>\r\nTo: a@example.test, \"B\" <b@example.test>\r\n"
           b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\nDate: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
           b"Message-ID: <x@example.net>\r\nImportance: high\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=x-nope\r\n\r\n"
           b"hi\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n")
    planned = graph_message(raw, ["\\Seen", "\\Flagged", "Red&ACA-Category"], datetime(2024, 1, 3, tzinfo=UTC), "m")
    body = planned.body
    assert (body["subject"], body["from"], body["importance"], body["internetMessageId"]) == (
        "Grüße", {"emailAddress": {"address": "j@example.net", "name": "Jörg"}}, "high", "<x@example.net>")
    assert [r["emailAddress"]["address"] for r in body["toRecipients"]] == ["a@example.test", "b@example.test"]
    assert body["body"] == {"contentType": "text", "content": "hi"}  # an unknown charset read as UTF-8
    assert (body["isRead"], body["flag"], body["categories"]) == (True, {"flagStatus": "flagged"}, ["Red Category"])
    props = {p["id"]: p["value"] for p in body["singleValueExtendedProperties"]}
    assert props["Integer 0x0E07"] == "1" and props["SystemTime 0x0E06"] == "2024-01-03T00:00:00Z"
    assert props["SystemTime 0x0039"] == "2024-01-02T09:00:00Z"
    assert props["String 0x007D"] == raw.split(b"\r\n\r\n", 1)[0].decode()
    assert [(a["name"], a["contentBytes"]) for a in body["attachments"]] == [("a.pdf", "JVBERg==")]
    assert planned.uploads == []


def test_a_large_attachment_waits_for_an_upload_and_an_attached_message_becomes_a_file() -> None:
    big = b"A" * (INLINE_ATTACHMENT + 1)
    import base64

    raw = (b"Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/html\r\n\r\n<p>x</p>\r\n--b\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(big) + b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n"
           b"--b--\r\n")
    planned = graph_message(raw, [], datetime(2024, 1, 1, tzinfo=UTC), "m")
    assert [(u.name, len(u.content)) for u in planned.uploads] == [("big.bin", len(big))]
    assert [a["name"] for a in planned.body["attachments"]] == ["attached message.eml"]
    assert planned.body["body"]["contentType"] == "html" and planned.body["isRead"] is False
    assert "an attached message became an .eml file attachment" in planned.lossy


@pytest.mark.parametrize(("rule", "start", "want"), [
    (RecurrenceRule("WEEKLY", interval=2, count=5, by_day=[(None, "MO"), (None, "WE")]), date(2026, 1, 5),
     {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "wednesday"],
                  "firstDayOfWeek": "monday"},
      "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 5}}),
    (RecurrenceRule("MONTHLY", by_day=[(-1, "FR")]), datetime(2026, 1, 30, 9, tzinfo=BERLIN),
     {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
      "range": {"type": "noEnd", "startDate": "2026-01-30"}}),
    (RecurrenceRule("YEARLY", until=datetime(2030, 5, 1, 21, 59, tzinfo=UTC)), datetime(2026, 5, 1, 9, tzinfo=BERLIN),
     {"pattern": {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 1, "month": 5},
      "range": {"type": "endDate", "startDate": "2026-05-01", "endDate": "2030-05-01"}}),
    (RecurrenceRule("DAILY", interval=3), date(2026, 2, 1),
     {"pattern": {"type": "daily", "interval": 3}, "range": {"type": "noEnd", "startDate": "2026-02-01"}}),
])
def test_recurrences_become_patterned_recurrences(rule: RecurrenceRule, start: date, want: dict[str, object]) -> None:
    assert recurrence_to_graph(rule, start, not isinstance(start, datetime)) == want


def test_what_graph_patterns_cannot_say_is_refused() -> None:
    with pytest.raises(ValueError, match="BYHOUR"):
        recurrence_to_graph(RecurrenceRule("DAILY", other={"BYHOUR": "9,17"}), date(2026, 1, 1), True)


def test_times_keep_their_zone_when_graph_knows_it() -> None:
    assert date_time_zone(datetime(2026, 3, 1, 9, 30, tzinfo=BERLIN)) == {"dateTime": "2026-03-01T09:30:00",
                                                                         "timeZone": "Europe/Berlin"}
    assert date_time_zone(date(2026, 3, 1)) == {"dateTime": "2026-03-01T00:00:00", "timeZone": "UTC"}


def test_a_contact_keeps_graphs_limits_and_says_what_it_dropped() -> None:
    card = ContactCard(formatted_name="Ann Lee", given_name="Ann", family_name="Lee",
                       emails=[TypedValue(f"a{i}@example.test") for i in range(4)],
                       phones=[TypedValue("1", ["cell"]), TypedValue("2", ["work"]), TypedValue("3", ["home"])],
                       birthday="--0415", extra=["X-MANAGER:Bob", "X-FOO:bar"])
    mapped = contact_to_graph(card)
    c = mapped.value
    assert [e["address"] for e in c["emailAddresses"]] == ["a0@example.test", "a1@example.test", "a2@example.test"]
    assert (c["mobilePhone"], c["businessPhones"], c["homePhones"], c["manager"]) == ("1", ["2"], ["3"], "Bob")
    assert "birthday" not in c
    assert mapped.lossy == ["birthday '--0415' (not a full date)", "the vCard property X-FOO",
                            "1 of the emailAddresses (Graph holds 3)"]


def test_a_task_keeps_its_day_and_status() -> None:
    t = TaskRecord(summary="Report", status="IN-PROCESS", priority=1, due=date(2026, 6, 10),
                   extra=["X-MS-TASK-STATUS:WaitingOnOthers"])
    assert task_to_graph(t).value == {"title": "Report", "importance": "high", "status": "waitingOnOthers",
                                      "dueDateTime": {"dateTime": "2026-06-10T00:00:00", "timeZone": "UTC"}}


def test_a_rule_and_the_auto_reply_in_graphs_words() -> None:
    model = RuleModel(name="News", priority=2, enabled=False, conditions={"contains_subject_strings": ["news"],
                                                                          "is_signed": True, "odd": 1},
                      actions={"move_to_folder": ["Newsletters"], "mark_importance": "High"})
    mapped = rule_to_graph(model, lambda path: "F-" + "/".join(path))
    assert mapped.value == {"displayName": "News", "sequence": 2, "isEnabled": False,
                            "actions": {"moveToFolder": "F-Newsletters", "markImportance": "high"},
                            "conditions": {"subjectContains": ["news"], "isSigned": True}}
    assert mapped.lossy == ["the condition odd"]
    reply = AutoReply(state="Scheduled", external_audience="Known", start="2026-07-01T00:00:00+02:00",
                      end="2026-07-15T00:00:00+02:00", internal_reply="in", external_reply="out")
    assert auto_reply_to_graph(reply) == {
        "status": "scheduled", "externalAudience": "contactsOnly", "internalReplyMessage": "in",
        "externalReplyMessage": "out", "scheduledStartDateTime": {"dateTime": "2026-06-30T22:00:00", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2026-07-14T22:00:00", "timeZone": "UTC"}}


@pytest.mark.parametrize(("flags", "verb"), [(("\\Answered",), ("102", "261")), (("$Forwarded",), ("104", "262")),
                                             (("\\Answered", "$Forwarded"), ("102", "261")), ((), None)])
def test_answered_and_forwarded_become_outlooks_last_verb(flags: tuple[str, ...], verb: tuple[str, str] | None) -> None:
    props = {p["id"]: p["value"] for p in graph_message(b"Subject: s\r\n\r\nx", flags, datetime(2024, 1, 1, tzinfo=UTC),
                                                        "m").body["singleValueExtendedProperties"]}
    got = (props["Integer 0x1081"], props["Integer 0x1080"]) if "Integer 0x1081" in props else None
    assert got == verb


@pytest.mark.parametrize(("rule", "first", "day", "note"), [
    (RecurrenceRule("MONTHLY", by_month_day=[28, 29, 30, 31], by_set_pos=[-1]), date(2026, 1, 31), 31, False),
    (RecurrenceRule("MONTHLY", by_month_day=[-1]), date(2026, 1, 31), 31, False),
    (RecurrenceRule("MONTHLY", by_month_day=[31]), date(2026, 1, 31), 31, True),
    (RecurrenceRule("MONTHLY", by_month_day=[15]), date(2026, 1, 15), 15, False),
])
def test_days_of_the_month_in_graphs_words(rule: RecurrenceRule, first: date, day: int, note: bool) -> None:
    """Graph's absoluteMonthly day 31 falls on the last day of shorter months, as Exchange's. The last-day form
    an Exchange source writes used to become day 28, and BYMONTHDAY=-1 a day Graph refuses."""
    lossy: list[str] = []
    pattern = recurrence_to_graph(rule, first, True, lossy)["pattern"]
    assert (pattern["type"], pattern["dayOfMonth"]) == ("absoluteMonthly", day)
    assert bool(lossy) is note


def test_graphs_day_31_comes_back_with_its_short_months() -> None:
    from shared.adapters.graph.mapping import recurrence_from_graph

    rec = {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
           "range": {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 4}}
    assert recurrence_from_graph(rec, UTC, True) == RecurrenceRule("MONTHLY", by_month_day=[28, 29, 30, 31],
                                                                   by_set_pos=[-1], count=4)
    yearly = {"pattern": {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
              "range": {"type": "noEnd", "startDate": "2028-02-29"}}
    assert recurrence_from_graph(yearly, UTC, True) == RecurrenceRule("YEARLY", by_month_day=[28, 29],
                                                                      by_set_pos=[-1], by_month=[2])


def test_an_address_field_too_deep_for_the_parser_keeps_what_can_be_read() -> None:
    """A To field of 2,000 encoded words (MimeKit keeps such a message to test its own stack): the standard
    library's address parser recurses once per word and overflowed, which failed the whole batch."""
    words = b"".join(b"\t=?utf-8?Q?date=3E2017-08-20T10:08:%02d.617=3C/pr?=\r\n" % (i % 60) for i in range(2000))
    data = b'From: "t" <t@example.net>\r\nTo: "Ann" <ann@example.net>,\r\n' + words + b"Subject: deep\r\n\r\nbody\r\n"
    planned = graph_message(data, [], datetime(2024, 1, 1, tzinfo=UTC), "m")
    assert planned.body["toRecipients"] == [{"emailAddress": {"address": "ann@example.net", "name": "Ann"}}]
    assert planned.body["subject"] == "deep"
    assert planned.lossy == ["the To field was too deep to read whole: the addresses that could be read were kept"]


def test_a_charset_name_with_a_nul_reads_the_body_as_utf_8() -> None:
    """``charset="utf-8\\0"``: Python's decode raises ValueError (not LookupError) for it, which failed the batch."""
    data = b'From: a@example.net\r\nContent-Type: text/plain; charset="utf-8\x00"\r\n\r\nd\xc3\xa9j\xc3\xa0 \xff\r\n'
    planned = graph_message(data, [], datetime(2024, 1, 1, tzinfo=UTC), "m")
    assert planned.body["body"] == {"contentType": "text", "content": "déjà \ufffd\r\n"}


MIXED = b"From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"


@pytest.mark.parametrize(("name", "data", "want_subject", "want_files"), [
    # an encoded word in a charset whose name holds an 8-bit byte: email.errors.CharsetError
    ("charset of bytes", b"From: a@example.net\r\nSubject: =?utf-8\xff?Q?caf=C3=A9?=\r\n\r\nx\r\n",
     "=?utf-8\ufffd?Q?caf=C3=A9?=", []),
    # an RFC 2231 file name in a charset with a NUL: ValueError from the standard library
    ("RFC 2231 name", MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/pdf\r\n"
     b"Content-Disposition: attachment; filename*=utf-8\x00''%e3%81%8b.pdf\r\n\r\ndata\r\n--b--\r\n", None, ["か.pdf"]),
    # an attached message whose boundary never comes, with an 8-bit byte: the bytes generator cannot write it
    ("attached message", MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: message/rfc822; "
     b'name="fwd.eml"\r\n\r\nFrom: b@example.net\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--y\r\n'
     b"Content-Type: text/plain\r\n\r\nab\xffcd\r\n--y--\r\n\r\n--b--\r\n", None, ["fwd.eml"]),
])
def test_what_broke_the_conversion_in_fuzzed_corpus_mail_is_converted(name: str, data: bytes, want_subject: str | None,
                                                                       want_files: list[str]) -> None:
    """Found by mutating the corpus's messages: each raised out of graph_message (and so failed its batch)."""
    planned = graph_message(data, [], datetime(2024, 1, 1, tzinfo=UTC), "m")
    assert planned.body.get("subject") == want_subject, name
    assert [a["name"] for a in planned.body.get("attachments", [])] == want_files, name
