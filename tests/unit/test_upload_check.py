"""The registry's check of an uploaded file (the PST system's): the code intake answers for each kind of file,
from files made here or taken whole from the PST corpus (expected codes written by hand)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.adapters import registry
from shared.errors import FileRefused

CORPUS = Path(os.environ.get("MAILFERRY_PST_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpora/pst"))


def refusal(path: Path) -> str | None:
    check = registry.system("pst").check_upload
    assert check is not None
    try:
        check(path)
    except FileRefused as exc:
        assert str(exc)  # a plain-words reason for the user
        return exc.code
    return None


def test_a_file_that_is_not_a_pst(tmp_path: Path) -> None:
    path = tmp_path / "notes.pst"
    path.write_bytes(b"Dear Bob,\nthis is a letter, not an Outlook file.\n" * 20)
    assert refusal(path) == "not_a_pst"


def test_the_corpus_files(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.fail(f"PST corpus not found at {CORPUS}")
    assert refusal(CORPUS / "sample1.pst") is None
    assert refusal(CORPUS / "passworded.pst") == "pst_password_protected"
    cut = tmp_path / "cut.pst"
    cut.write_bytes((CORPUS / "sample1.pst").read_bytes()[:4096])  # an upload that stopped early
    assert refusal(cut) == "pst_truncated"


def test_only_uploaded_systems_check_files() -> None:
    assert [name for name, s in registry.SYSTEMS.items() if s.check_upload is not None] == ["pst"]
