"""Mail filters: folders by the name the user knows (covering subfolders), received dates in a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from shared.events import EndpointSpec, ExtractTask, FolderRef, MailFilters
from shared.mail_filters import in_window, wanted_folders


def ref(*path: str) -> tuple[FolderRef, bool]:
    return FolderRef(folder_id="/".join(path), path=list(path), source_name=".".join(path)), True


TREE = [ref("INBOX"), ref("Archive"), ref("Archive", "2023"), ref("Archive", "2024"), ref("Work"),
        ref("Workshop")]


def names(filters: MailFilters | None) -> list[tuple[str, bool]]:
    return [(r.display, selectable) for r, selectable in wanted_folders(TREE, filters)]


def test_no_filters_keep_every_folder() -> None:
    assert names(None) == names(MailFilters()) == [(r.display, True) for r, _s in TREE]


def test_exclude_covers_subfolders_and_not_names_that_merely_start_alike() -> None:
    assert names(MailFilters(exclude_folders=["archive", "Work/"])) == [("INBOX", True), ("Workshop", True)]


def test_include_keeps_the_parents_of_a_subfolder_without_their_mail() -> None:
    assert names(MailFilters(include_folders=["Archive/2024"])) == [("Archive", False), ("Archive/2024", True)]
    assert names(MailFilters(include_folders=["Archive"], exclude_folders=["Archive/2023"])) == [
        ("Archive", True), ("Archive/2024", True)]


def test_the_window_is_on_the_received_date_in_any_zone() -> None:
    spec = EndpointSpec(type="imap", host="h", port=143, security="none", login="l", password_sealed="")
    cut = datetime(2020, 1, 1, tzinfo=UTC)
    task = ExtractTask(migration_id="m", task_id="t", source=spec, folder=TREE[0][0], uidvalidity=1, uids=[1],
                       received_before=cut)
    paris = timezone(timedelta(hours=1))
    assert in_window(datetime(2019, 12, 31, 23, 59, tzinfo=UTC), task)
    assert not in_window(cut, task)
    assert in_window(datetime(2020, 1, 1, 0, 30, tzinfo=paris), task)  # 23:30 UTC the day before
    since = task.model_copy(update={"received_before": None, "received_since": cut})
    assert in_window(cut, since) and not in_window(cut - timedelta(seconds=1), since)
