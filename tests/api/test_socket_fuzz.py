"""Every socket event of every namespace, fuzzed over real sockets (Hypothesis): payloads drawn from
the event's own declared schema and from arbitrary JSON (NUL characters, lone surrogates, huge
integers, wrong types). Whatever comes in, the answer is an ack (success or a clear
error), never ``internal_error``, and the hub logs no error.

``HUB_FUZZ_EXAMPLES`` sets how many payloads each namespace gets (a fixed, small seed run in CI;
raise it for a long run)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import types
import typing
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hub.web.asyncapi import PROTOCOL
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "150"))
# Under the per-socket limits and abuse strikes: a socket sends at most this many, then a fresh
# one takes over (the limits are tested elsewhere; here every payload must reach its handler).
PER_SOCKET = 30
ROLES = {"/customer": "customer", "/worker": "worker", "/support": "support"}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: 2**63 and beyond, thousands of digits
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),  # any code point but lone surrogates...
    st.sampled_from(["\x00", "a\x00b", "\ud800", "\r\n", ""]),
    st.integers(4000, 5000).map(lambda n: "9" * n),  # digits past Python's int-parsing limit
)
junk_json = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=20,
)


def payloads(model: Any) -> st.SearchStrategy[Any]:
    options = [junk_json, st.dictionaries(st.text(max_size=30), json_leaf, max_size=8)]
    if model is not None:
        # Mostly well-typed, so that payloads get past validation into the handlers.
        options += [shaped(model), shaped(model), shaped(model).map(_poison)]
    return st.one_of(options)


def shaped(model: type[pydantic.BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the model's field names, each value of the field's type or else junk."""
    fields = {
        name: st.one_of(typed(field.annotation), typed(field.annotation), json_leaf)
        for name, field in model.model_fields.items()
    }
    required = {name: fields[name] for name, f in model.model_fields.items() if f.is_required()}
    optional = {name: fields[name] for name in fields if name not in required}
    return st.fixed_dictionaries(required, optional=optional)


def typed(annotation: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return typed(args[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([typed(arg) for arg in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (list, tuple, set, frozenset):
        return st.lists(typed(args[0]) if args else json_leaf, max_size=4)
    if origin is dict:
        return st.dictionaries(st.uuids().map(str) | st.text(max_size=10), typed(args[1]), max_size=4)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type):
        if issubclass(annotation, pydantic.BaseModel):
            return shaped(annotation)
        if issubclass(annotation, bool):
            return st.booleans()
        if issubclass(annotation, int):
            return st.integers(-1, 10) | st.integers()
        if issubclass(annotation, float):
            return st.floats(-200, 200) | st.floats(allow_nan=False, allow_infinity=False)
        if issubclass(annotation, str):
            return st.text(max_size=40)
        if issubclass(annotation, uuid.UUID):
            return st.uuids().map(str)
        if issubclass(annotation, dt.datetime):
            return st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)
        if issubclass(annotation, dt.date):
            return st.dates().map(dt.date.isoformat)
    return json_leaf


def _poison(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v + "\x00" if isinstance(v, str) else v) for k, v in value.items()}
    return value


class Sender:
    """A socket of the namespace's role, replaced before it could be rate-limited or struck off."""

    def __init__(self, hub: RunningHub, namespace: str) -> None:
        self.hub, self.namespace = hub, namespace
        self.peer: Peer | None = None
        self.sent = 0
        self.opened: list[Peer] = []

    async def call(self, event: str, payload: Any) -> Any:
        if self.peer is None or self.sent >= PER_SOCKET or not self.peer.client.connected:
            self.peer = await Peer(self.namespace).connect(
                self.hub.url, self.hub.token(ROLES[self.namespace], f"fuzz-{len(self.opened)}")
            )
            self.opened.append(self.peer)
            self.sent = 0
        self.sent += 1
        return await self.peer.call(event, payload)

    async def close(self) -> None:
        for peer in self.opened:
            await peer.close()


@pytest.fixture
async def fuzz_hub(start_hub: StartHub) -> RunningHub:
    hub: RunningHub = await start_hub(HUB_BOOKING_MIN_LEAD_MINUTES="0")
    return hub


@pytest.fixture(params=sorted(ROLES))
async def sender(fuzz_hub: RunningHub, request: pytest.FixtureRequest) -> AsyncIterator[Sender]:
    sending = Sender(fuzz_hub, request.param)
    yield sending
    await sending.close()


@seed(20261202)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_no_socket_event_fails_whatever_it_is_sent(
    fuzz_hub: RunningHub, sender: Sender, data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    caplog.clear()  # one capture for every example of the test: keep only this example's
    handlers = fuzz_hub.app[PROTOCOL].namespaces[sender.namespace].handlers
    event = data.draw(st.sampled_from(sorted(handlers)), label="event")
    payload = data.draw(payloads(handlers[event][1].payload), label="payload")
    ack = await sender.call(event, payload)
    assert isinstance(ack, dict), ack
    if not ack["ok"]:
        assert ack["error"]["code"] != "internal_error", (event, ack)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
