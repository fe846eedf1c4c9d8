"""PST's entry in the registry: an uploaded Outlook file, a source of e-mails, contacts, lists, events, tasks.

It has no login: intake checks the file when it is uploaded, and the migration is followed with
the target's login. pypff is imported when the file is opened, not with this table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shared.adapters.descriptor import Reading, System
from shared.adapters.ports import AdapterEnv, Secret
from shared.errors import FileRefused, MailferryError
from shared.events import EndpointSpec, ExtractTask
from shared.spool import spool_file

if TYPE_CHECKING:
    from shared.adapters.pst.source import PstSource


def open_file(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> PstSource:
    """The uploaded file in the shared spool (``secret`` is never read: the file has none)."""
    from shared.adapters.pst.source import PstSource

    if env.spool is None:
        raise MailferryError("this extractor has no spool directory for PST files")
    return PstSource.open(spool_file(env.spool, spec.path))


def task_keys(task: ExtractTask) -> list[str]:
    from shared.adapters.pst.source import pst_item_key

    return [pst_item_key(task.folder.folder_id, r) for r in task.refs]


def check_upload(path: Path) -> None:
    """Header, libpff open, password: FileRefused with the code the API answers for a file it cannot import."""
    from shared.adapters.pst.reader import (
        NotAPstError,
        PstError,
        PstPasswordProtectedError,
        PstTruncatedError,
        check_pst,
    )

    try:
        check_pst(path)
    except PstError as exc:
        code = ("not_a_pst" if isinstance(exc, NotAPstError) else "pst_truncated"
                if isinstance(exc, PstTruncatedError) else "pst_password_protected"
                if isinstance(exc, PstPasswordProtectedError) else "pst_corrupt")
        raise FileRefused(str(exc), code) from None


# A PST reader is not thread-safe: one session reads at a time. Rules and auto-reply live on the
# server, not in the file.
SYSTEM = System(
    name="pst",
    label="PST",
    mail_source=open_file,
    readers={"contacts": Reading("vcard", open_file), "contact_groups": Reading("contact-group", open_file),
             "calendars": Reading("ical", open_file), "tasks": Reading("ical", open_file)},
    task_keys=task_keys,
    needs_host=False,
    uploaded=True,
    check_upload=check_upload,
)
