"""The operator API's start request: times with a zone, that UTC can hold, or a 422 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.operator_api import StartRequest


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"at": "9999-12-31T23:59:59-05:00"}, "at", "between the years 1 and 9999"),
    ({"at": "0001-01-01T00:00:00+05:00"}, "at", "between the years 1 and 9999"),
    ({"pass": "prestage", "received_before": "9999-12-31T23:59:59-05:00"}, "received_before", "between the years"),
    ({"at": "2030-01-01T00:00:00"}, "at", "timezone"),
    ({"pass": "prestage", "received_before": "2020-01-01T00:00:00"}, "received_before", "timezone"),
])
def test_a_time_utc_cannot_hold_or_without_a_zone_is_refused(body: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        StartRequest.model_validate(body)
    [err] = caught.value.errors()
    assert err["loc"] == (field,) and words in err["msg"], err


def test_a_time_with_a_zone_arrives_in_utc() -> None:
    got = StartRequest.model_validate({"at": "2030-01-01T00:00:00+02:00", "pass": "full"})
    assert got.at == datetime(2029, 12, 31, 22, 0, tzinfo=UTC) and got.at.utcoffset() is not None
