"""JSON for Socket.IO packets: orjson, with the standard library's answer wherever the two differ.

Encoding and decoding every packet with the standard ``json`` module cost about 24 µs of the
hub's 690 µs of CPU per chat message (bench/README.md, "Where a chat message's CPU goes"); orjson
encodes the same in a seventh of the time and decodes it in a quarter. A module-like object
(``dumps``, ``loads``) as python-socketio's packets expect it, and for what the hub encodes itself.

The standard library, as python-engineio configures it (``engineio.json``: integers of more
than 100 digits refused, here for stored JSON too), stays the reference, used whenever orjson
refuses or would read otherwise:

- orjson reads an integer beyond 64 bits as a float, so a packet with 19 digits in a row
  anywhere (in a string too: the test is a cheap search, not a parse) is decoded by the standard
  library: a huge integer stays an integer and a payload model refuses it, field by field;
- orjson refuses ``NaN``, ``Infinity``, lone surrogates (``"\\ud800"``), numbers beyond a double
  and nesting deeper than 1,024: the standard library then accepts or refuses them as before,
  with the same errors (``ValueError``, ``RecursionError``);
- orjson refuses to encode integers beyond 64 bits and strings with lone surrogates, and is told
  to refuse datetimes and dataclasses (``OPT_PASSTHROUGH_*``): the standard library encodes the
  first two as before and refuses the others as before. Times leave as ``hub.times.iso`` strings.

Differences that remain, both in the client's favour: non-ASCII text leaves as UTF-8 instead of
``\\uXXXX`` escapes (the same string once parsed, and shorter), and NaN as ``null`` (the standard
library wrote ``NaN``, which no JSON parser reads).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Keys that are not strings (ints, None, ...) become strings, as the standard library does.
ENCODE_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# The shortest run of digits that may be an integer orjson reads otherwise (2**63 has 19 digits).
# JSON numbers are ASCII digits; written this way the search takes a third of ``\d{19}``'s time.
LONG_DIGITS = re.compile(r"[0-9][0-9]{18}")
LONG_DIGITS_BYTES = re.compile(rb"[0-9][0-9]{18}")
COMPACT = {"separators": (",", ":")}
MAX_INTEGER_DIGITS = 100  # python-engineio's bound: int() of a longer string is slow (quadratic)


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INTEGER_DIGITS:
        raise ValueError("Integer is too large")
    return int(text)


def dumps(obj: Any, **kwargs: Any) -> str:
    """Compact JSON. python-socketio asks for compact separators, orjson's only ones; any other
    option goes to the standard library."""
    if not kwargs or kwargs == COMPACT:
        try:
            return orjson.dumps(obj, option=ENCODE_OPTIONS).decode()
        except TypeError:
            pass
    return json.dumps(obj, **{**COMPACT, **kwargs})


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """The value of ``text``; ``ValueError`` (or ``RecursionError``) when it is not JSON."""
    if not kwargs:
        long_digits = LONG_DIGITS.search(text) if isinstance(text, str) else LONG_DIGITS_BYTES.search(text)
        if long_digits is None:
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
    return json.loads(text, **{"parse_int": _bounded_int, **kwargs})
