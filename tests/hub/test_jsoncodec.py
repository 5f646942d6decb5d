"""The packets' JSON codec (orjson) reads and writes what the standard library did, and refuses
what it refused, with the same kind of error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

import pytest
from engineio import json as reference

from hub import jsoncodec
from hub.namespaces.server import JsonPacket

DECODED_ALIKE = [
    '["chat:send",{"conversation_id":"c","client_id":"x","body":"你好 👋"}]',
    '{"a":1,"a":2}',  # the last of a repeated key
    "[18446744073709551615, -9223372036854775808, 9223372036854775807]",
    "[1" + "0" * 30 + "]",  # beyond 64 bits: an int, not orjson's float
    "[-1" + "0" * 30 + "]",
    '["1234567890123456789012345"]',  # a long run of digits in a string
    "[0.1, -0.0, 1e-7, 1.5e300]",
    "[NaN, Infinity, -Infinity]",  # not JSON, but the standard library reads them
    "[1e400]",  # beyond a double: infinity, as before
    '["\\ud800"]',  # a lone surrogate
    '["\\u0000"]',
    "[" * 500 + "]" * 500,
    " [true, false, null] ",
]
REFUSED = ['["a\x01b"]', "[1] x", "", "[", "\ufeff[1]", "[" + "9" * 101 + "]"]


@pytest.mark.parametrize("text", DECODED_ALIKE)
def test_decodes_what_the_standard_library_decodes(text: str) -> None:
    expected = repr(reference.loads(text))  # repr: NaN != NaN
    assert repr(jsoncodec.loads(text)) == expected
    assert repr(jsoncodec.loads(text.encode("utf-8", "surrogatepass"))) == expected


@pytest.mark.parametrize("text", REFUSED)
def test_refuses_what_the_standard_library_refuses(text: str) -> None:
    before, now = _refusal(reference.loads, text), _refusal(jsoncodec.loads, text)
    assert isinstance(before, ValueError)
    assert repr(now) == repr(before)


def _refusal(loads: Callable[[str], object], text: str) -> Exception | None:
    try:
        loads(text)
    except Exception as exc:
        return exc
    return None


def test_deep_nesting_fails_as_before() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        reference.loads(text)
    with pytest.raises(RecursionError):
        jsoncodec.loads(text)


@pytest.mark.parametrize(
    "value",
    [
        ["chat:message", {"body": "早上好, ça va?", "seq": 3, "private": False, "attachments": []}],
        {1: "int key", None: "null key", False: "bool key"},
        [2**64, -(2**70)],  # beyond orjson's integers
        ["a\ud800b"],  # beyond orjson's strings
        ("a", "tuple"),
    ],
)
def test_encodes_the_same_value(value: object) -> None:
    encoded = jsoncodec.dumps(value, separators=(",", ":"))
    assert isinstance(encoded, str)
    assert json.loads(encoded) == json.loads(json.dumps(value))


def test_non_ascii_leaves_as_utf8_and_nan_as_null() -> None:
    assert jsoncodec.dumps(["é", float("nan")]) == '["é",null]'


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize("value", [dt.datetime(2025, 1, 1, tzinfo=dt.UTC), Point(1), object()])
def test_refuses_to_encode_what_the_standard_library_refuses(value: object) -> None:
    with pytest.raises(TypeError):
        jsoncodec.dumps({"at": value})


def test_socketio_packets_use_it() -> None:
    packet = JsonPacket(encoded_packet='2/customer,7["chat:send",{"body":"你好","n":' + "1" * 30 + "}]")
    assert packet.data == ["chat:send", {"body": "你好", "n": int("1" * 30)}]
    assert JsonPacket(2, data=["chat:message", {"body": "你好"}], namespace="/customer").encode() == (
        '2/customer,["chat:message",{"body":"你好"}]'
    )


@pytest.mark.parametrize(
    "data",
    [["e", {"a": [1, {"b": b"x"}]}], ["e", bytearray(b"x")], ["e", {"k": {"deep": [[[b""]]]}}]],
)
def test_finds_binary_at_any_depth(data: object) -> None:
    assert JsonPacket.data_is_binary(data)
    assert JsonPacket(2, data=data, namespace="/customer").packet_type == 5  # BINARY_EVENT


@pytest.mark.parametrize("data", [["e", {"a": [1, "x", None, 2.5, {"b": "y"}]}], ["e"], ["e", ("t", b"x")]])
def test_finds_no_binary_where_python_socketio_finds_none(data: object) -> None:
    # A tuple is not looked into, as python-socketio does not.
    assert not JsonPacket.data_is_binary(data)
