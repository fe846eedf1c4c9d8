"""What ``migrate`` and ``pst-import`` print and return for intake's answer to a start (one code path for both):
answers written out here, nothing followed (``--no-follow``)."""

from __future__ import annotations

import httpx
import pytest

from mailferry.cli import _started


def test_a_refusal_names_the_side_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    resp = httpx.Response(422, json={"error": {"code": "authentication_failed", "side": "source",
                                               "message": "the source login was refused"}})
    assert _started("http://api.test", resp, "ann@old.test", True, "keep it") == 2
    assert capsys.readouterr().err == "refused (source): the source login was refused\n"


def test_a_refusal_that_is_not_json_is_shown_shortened(capsys: pytest.CaptureFixture[str]) -> None:
    resp = httpx.Response(502, text="<html>" + "x" * 400, headers={"content-type": "text/html"})
    assert _started("http://api.test", resp, "ann@old.test", True, "keep it") == 2
    assert capsys.readouterr().err == "refused: <html>" + "x" * 294 + "\n"


def test_a_start_prints_the_id_and_how_to_find_it_again(capsys: pytest.CaptureFixture[str]) -> None:
    resp = httpx.Response(202, json={"id": "mf-123"})
    assert _started("http://api.test", resp, "ann@new.test", True, "follow it with the target login") == 0
    assert capsys.readouterr().out == "migration ID: mf-123   (follow it with the target login)\n"
