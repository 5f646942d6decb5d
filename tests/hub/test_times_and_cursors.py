"""The one time format (``hub.times``) and the opaque cursors (``hub.cursors``), without a hub."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest

from hub import cursors
from hub.errors import InvalidPayload
from hub.times import Timestamp, iso, parse

BEIJING = timezone(timedelta(hours=8))


def test_iso_writes_utc_with_z_and_microseconds_only_when_there_are_any() -> None:
    assert iso(datetime(2026, 12, 2, 18, 0, tzinfo=BEIJING)) == "2026-12-02T10:00:00Z"
    assert iso(datetime(2026, 12, 2, 10, 0, 0, 123456, UTC)) == "2026-12-02T10:00:00.123456Z"
    assert iso(datetime(2026, 12, 2, 10, 0, 0, 500, UTC)) == "2026-12-02T10:00:00.000500Z"
    with pytest.raises(ValueError, match="naive"):
        iso(datetime(2026, 12, 2, 10, 0))


@pytest.mark.parametrize(
    "text",
    ["2026-12-02T18:00:00.000001+08:00", "2026-12-02T10:00:00.000001Z", "2026-12-02T10:00:00.000001+00:00"],
)
def test_parse_takes_any_offset_and_iso_gives_back_the_same_instant(text: str) -> None:
    at = parse(text)
    assert at == datetime(2026, 12, 2, 10, 0, 0, 1, UTC)
    assert parse(iso(at)) == at
    assert iso(at) == "2026-12-02T10:00:00.000001Z"


def test_parse_refuses_a_time_without_an_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        parse("2026-12-02T10:00:00")


class Model(pydantic.BaseModel):
    at: Timestamp
    maybe: Timestamp | None = None


def test_a_model_timestamp_reads_any_offset_and_writes_z() -> None:
    model = Model.model_validate({"at": "2026-12-02T18:00:00+08:00"})
    assert model.model_dump_json() == '{"at":"2026-12-02T10:00:00Z","maybe":null}'
    assert model.model_dump(mode="json")["at"] == "2026-12-02T10:00:00Z"
    assert (
        Model(at=datetime(2026, 1, 1, tzinfo=BEIJING)).model_dump(mode="json")["at"] == "2025-12-31T16:00:00Z"
    )
    with pytest.raises(pydantic.ValidationError):
        Model.model_validate({"at": "2026-12-02T10:00:00"})
    schema = Model.model_json_schema(mode="serialization")["properties"]["at"]
    assert (schema["type"], schema["format"]) == ("string", "date-time")


def test_a_cursor_gives_back_what_it_holds() -> None:
    at, item = datetime(2026, 12, 2, 10, 0, 0, 7, UTC), uuid.uuid4()
    cursor = cursors.make("bookings", at, item)
    assert cursors.read(cursor, "bookings", datetime, uuid.UUID) == (at, item)
    assert cursors.read(None, "bookings", datetime, uuid.UUID) is None
    assert cursors.read(cursors.make("notifications", 41), "notifications", int) == (41,)


def _forged(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!",
        "bm9wZQ",  # "nope"
        cursors.make("points", 3),  # another list's
        _forged(["notifications"]),  # too short
        _forged(["notifications", 1, 2]),  # too long
        _forged(["notifications", "1"]),  # a string for an int
        _forged(["notifications", True]),  # a boolean is no position
        _forged({"notifications": 1}),
    ],
)
def test_a_cursor_the_list_did_not_give_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidPayload) as refused:
        cursors.read(cursor, "notifications", int)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize(
    "forged",
    [
        ["bookings", "2026-12-02T10:00:00", str(uuid.uuid4())],
        ["bookings", "9999-12-31T23:59:59-01:00", str(uuid.uuid4())],
    ],
)
def test_a_time_cursor_needs_an_offset_and_a_real_instant(forged: list[object]) -> None:
    with pytest.raises(InvalidPayload):
        cursors.read(_forged(forged), "bookings", datetime, uuid.UUID)


def test_pages_by_position() -> None:
    rows = list(range(7))
    assert cursors.page("n", rows[:3], 3, lambda n: (n,)) == ([0, 1, 2], None)
    kept, cursor = cursors.page("n", rows[:4], 3, lambda n: (n,))
    assert (kept, cursors.read(cursor, "n", int)) == ([0, 1, 2], (2,))
    assert cursors.offset(None, "o") == 0
    kept, cursor = cursors.offset_page("o", rows[3:7], 3, 3)
    assert (kept, cursors.offset(cursor, "o")) == ([3, 4, 5], 6)
    for bad in (cursors.make("o", 0), cursors.make("o", -1), cursors.make("o", cursors.MAX_OFFSET + 1)):
        with pytest.raises(InvalidPayload):
            cursors.offset(bad, "o")
