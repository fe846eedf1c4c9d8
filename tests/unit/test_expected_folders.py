"""The folder rules written again for checking (mailferry/expected_folders.py), with expectations as data."""

from __future__ import annotations

from mailferry.expected_folders import expected_names
from mailferry.verify import Listed


def listing(*entries: tuple[str, str] | str, delimiter: str = "/") -> dict[str, Listed]:
    out = {}
    for e in entries:
        name, flags = (e, "") if isinstance(e, str) else e
        out[name] = Listed(name, delimiter, frozenset(flags.split()))
    return out


def test_demo_accounts_on_one_dovecot_keep_every_name() -> None:
    both = listing("INBOX", ("Sent", "\\Sent"), ("Archive", "\\Archive"), "Projects", "Projects/2024",
                   ("Données", "\\Noselect"), "Données/Été 2024")
    got = expected_names(both, both, source_announces=True, target_announces=True)
    assert got == {n: n for n in both}


def test_archiv_on_a_flagging_source_stays_archiv() -> None:
    source = listing("INBOX", ("Sent", "\\Sent"), "Archiv", "Archiv/2019")
    target = listing("INBOX", ("Sent", "\\Sent"), "Archive")
    assert expected_names(source, target, source_announces=True, target_announces=True) == {
        "INBOX": "INBOX", "Sent": "Sent", "Archiv": "Archiv", "Archiv/2019": "Archiv/2019"}


def test_uses_land_in_the_targets_own_folders_and_views_are_not_copied() -> None:
    source = listing("inbox", ("Gesendet", "\\Sent"), "Gesendet/2020", ("Alle", "\\All"), ("Müll", "\\Trash"))
    target = listing("INBOX", ("Sent Items", "\\Sent"))
    assert expected_names(source, target, source_announces=True, target_announces=True) == {
        "inbox": "INBOX", "Gesendet": "Sent Items", "Gesendet/2020": "Sent Items/2020", "Alle": None, "Müll": "Müll"}


def test_names_only_without_special_use_and_separators_and_prefixes() -> None:
    source = listing("INBOX", "INBOX.Spam", "INBOX.Gesendet", "INBOX.a/b", delimiter=".")
    target = listing("INBOX", "Junk", "Gesendete Elemente")
    assert expected_names(source, target, source_announces=False, target_announces=False,
                          source_prefix="INBOX.") == {
        "INBOX": "INBOX", "INBOX.Spam": "Junk", "INBOX.Gesendet": "Gesendete Elemente", "INBOX.a/b": "a_b"}
    target = listing("INBOX", ("INBOX.Sent", "\\Sent"), delimiter=".")
    assert expected_names(listing("INBOX", ("Archiv", "\\Archive"), ("Sent", "\\Sent")), target,
                          source_announces=True, target_announces=True, target_prefix="INBOX.") == {
        "INBOX": "INBOX", "Archiv": "INBOX.Archiv", "Sent": "INBOX.Sent"}
