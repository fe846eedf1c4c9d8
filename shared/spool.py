"""The spool layout every service agrees on: where an uploaded PST file lives, and how a path is checked.

Intake writes an accepted upload as ``$SPOOL/pst/<random>.pst`` and names it, relative to the
spool, in the migration's source; the extractor opens it and the tracker deletes it at the
final state. A name that points anywhere else is refused, whoever reads it.
"""

from __future__ import annotations

from pathlib import Path

from shared.errors import ConnectionCheckFailed

PST_DIR = "pst"  # below the spool


class PstUnavailable(ConnectionCheckFailed):
    """The uploaded file is gone or can no longer be read: the migration cannot start or go on."""

    code = "pst_unavailable"


def spool_file(spool: Path, relative: str) -> Path:
    """The spool file a migration's source names (relative to the spool), refusing anything outside it."""
    base = (spool / PST_DIR).resolve()
    path = (spool / relative).resolve()
    if path.parent != base or path.suffix != ".pst":
        raise PstUnavailable("the uploaded PST file's path is not in the PST spool directory")
    return path
