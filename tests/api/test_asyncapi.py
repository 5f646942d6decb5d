"""``/api/v1/asyncapi.json`` is true: valid AsyncAPI 3.0, complete, and what the hub sends matches it.

- Valid: the AsyncAPI Initiative's JSON Schema of AsyncAPI 3.0.0 (npm ``@asyncapi/specs``)
  validates the document, and the checks here add what it does not: every ``$ref`` resolves,
  operations use messages of their own channel, no message is left without an operation, every
  schema is a valid JSON Schema.
- Complete, and nothing else: every handler of every namespace of a running hub (with the default
  extensions) is a ``receive`` operation; every ``ServerEvent`` constant of the loaded hub and
  bookings modules is a ``send`` operation on each of its namespaces; without extensions the
  bookings events are gone.
- Declarations are used: each handler takes the payload model it declares, and no emit site in
  hub/ or bookings/ names its event with a string literal (an AST scan).
- True: over real sockets, every ack and every event the hub sends validates against the
  document's schemas, and every payload it accepts against the event's payload schema.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import pkgutil
import re
import sys
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
from aiohttp import web

import bookings
import hub as hub_package
from hub.acks import Payload
from hub.keys import SIO
from hub.protocol import ServerEvent
from hub.web.asyncapi import PROTOCOL, document
from tests.support.bookings import CENTRE, book_and_pay, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import ROOT, RunningHub, StartHub
from tests.support.js import asyncapi_schema


@functools.cache
def asyncapi_validator() -> Any:
    return jsonschema_rs.validator_for(asyncapi_schema())


def assert_valid_asyncapi(document: dict[str, Any]) -> None:
    """Valid against the AsyncAPI Initiative's JSON Schema of AsyncAPI 3.0.0."""
    errors = [
        f"{list(e.instance_path)}: {e.message[:200]}" for e in asyncapi_validator().iter_errors(document)
    ]
    assert not errors, errors[:5]


DOCUMENT = "/api/v1/asyncapi.json"
KEY = re.compile(r"[A-Za-z0-9.\-_]+")
SOURCES = ("hub", "bookings")
# Calls that send an event, and the position of the event among their arguments.
EMITTERS = {"emit": 0, "to_agents": 0, "to_members": 1, "to_user": 2}


async def get_document(hub: RunningHub) -> dict[str, Any]:
    status, body = await hub.http("GET", DOCUMENT)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref} does not resolve"
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def operations_by_action(document: dict[str, Any], action: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, event name) → the operation's message, for every operation of ``action``."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        address = resolve(document, operation["channel"]["$ref"])["address"]
        message = resolve(document, operation["messages"][0]["$ref"])
        key = (address, message["name"])
        assert key not in out, f"{key} is documented twice"
        out[key] = message
    return out


# Valid AsyncAPI 3.0 ------------------------------------------------------------------------------


async def test_the_document_is_valid_asyncapi_3(hub: RunningHub) -> None:
    document = await get_document(hub)
    assert document["asyncapi"] == "3.0.0"
    assert_valid_asyncapi(document)
    for ref in set(refs_in(document)):
        resolve(document, ref)
    used: set[str] = set()
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        assert operation["action"] in ("send", "receive"), name
        assert len(operation["messages"]) == 1, name
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), f"{name}: a message of another channel"
            used.add(message["$ref"])
        if operation["action"] == "receive":  # a client event: answered with the ack envelope
            reply = operation["reply"]
            assert reply["channel"]["$ref"] == channel, name
            (ack,) = reply["messages"]
            assert ack["$ref"].startswith(f"{channel}/messages/"), name
            used.add(ack["$ref"])
            assert resolve(document, ack["$ref"])["payload"]["oneOf"][1] == {
                "$ref": "#/components/schemas/Refused"
            }
        else:
            assert "reply" not in operation, name
        assert operation["summary"], f"{name} has no summary"
    declared = {
        f"#/channels/{channel_id}/messages/{key}"
        for channel_id, channel in document["channels"].items()
        for key in channel["messages"]
    }
    assert declared == used, "messages without an operation"
    for channel_id, channel in document["channels"].items():
        assert channel["address"] == f"/{channel_id}"
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    for channel in document["channels"].values():
        for key, message in channel["messages"].items():
            if "payload" in message:
                assert jsonschema_rs.meta.is_valid(message["payload"]), key
    server = document["servers"]["hub"]
    assert server["host"] == hub.url.removeprefix("http://")
    assert (server["protocol"], server["pathname"]) == ("ws", "/socket.io/")
    (security,) = server["security"]
    scheme = resolve(document, security["$ref"])
    assert scheme["bearerFormat"] == "JWT"
    assert resolve(document, scheme["x-auth"]["$ref"])["required"] == ["token"]


def test_the_structure_check_is_not_vacuous(hub_env: dict[str, str]) -> None:
    """The official schema refuses what AsyncAPI 3.0 does not allow."""
    from hub.app import build_app
    from hub.settings import Settings

    valid = document(build_app(Settings.from_env(hub_env))[PROTOCOL])
    for broken in (
        lambda d: d["operations"]["customer-emit-ping"].update(action="publish"),  # AsyncAPI 2 word
        lambda d: d["operations"]["customer-emit-ping"].pop("channel"),
        lambda d: d["servers"]["hub"].pop("host"),
    ):
        copy = json.loads(json.dumps(valid))
        broken(copy)
        assert not asyncapi_validator().is_valid(copy), "an invalid document was accepted"


# Complete, and nothing else ------------------------------------------------------------------------


def live_namespaces(app: web.Application) -> dict[str, Any]:
    """The namespaces python-socketio routes to: what a client can actually reach (not the
    catch-all that refuses every other namespace)."""
    return {path: ns for path, ns in app[SIO].namespace_handlers.items() if path != "*"}


async def test_every_handler_is_documented_and_nothing_else(hub: RunningHub) -> None:
    document = await get_document(hub)
    received = operations_by_action(document, "receive")
    handled = {
        (path, name): declared
        for path, namespace in live_namespaces(hub.app).items()
        for name, (_, declared) in namespace.handlers.items()
    }
    assert set(handled) == set(received)
    assert {"/customer", "/worker", "/support"} == {path for path, _ in handled}
    assert ("/worker", "offer:accept") in handled  # the default extension's events are there
    for key, declared in handled.items():
        message = received[key]
        if declared.payload is None:
            assert "payload" not in message, key
        else:
            assert message["payload"] == {"$ref": f"#/components/schemas/{declared.payload.__name__}"}, key


def declared_server_events() -> set[ServerEvent]:
    """Every ``ServerEvent`` a module of hub or bookings defines (every module imported first)."""
    for package in (hub_package, bookings):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    return {
        value
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in SOURCES and isinstance(module, types.ModuleType)
        for value in vars(module).values()
        if isinstance(value, ServerEvent)
    }


async def test_every_event_payload_model_is_a_payload(hub: RunningHub) -> None:
    """``Payload`` refuses text PostgreSQL cannot hold, at any depth; an event model that is not
    one would let it through to the database."""
    for path, namespace in live_namespaces(hub.app).items():
        for name, (_, declared) in namespace.handlers.items():
            model = declared.payload
            assert model is None or issubclass(model, Payload), f"{path} {name}: {model}"


async def test_every_server_event_is_documented_and_nothing_else(hub: RunningHub) -> None:
    document = await get_document(hub)
    sent = operations_by_action(document, "send")
    events = declared_server_events()
    declared = {(path, event.name): event for event in events for path in event.namespaces}
    assert set(declared) == set(sent)
    assert len(events) == len({event.name for event in events}), "one name, two declarations"
    for key, event in declared.items():
        assert sent[key]["payload"] == {"$ref": f"#/components/schemas/{event.payload.__name__}"}, key
    assert set(hub.app[PROTOCOL].server_events) == events  # registered, by the core or an extension


async def test_without_extensions_there_are_no_offer_or_job_events(start_hub: StartHub) -> None:
    bare = await start_hub(HUB_EXTENSIONS="")
    document = await get_document(bare)
    assert_valid_asyncapi(document)
    names = {name for _, name in operations_by_action(document, "receive")}
    names |= {name for _, name in operations_by_action(document, "send")}
    assert names, "an empty document"
    assert {name for name in names if re.match(r"(offer|job|booking|order|dispatch)\b", name)} == set()
    assert "chat:send" in names


# Declarations are used -----------------------------------------------------------------------------


async def test_handlers_take_the_payload_model_they_declare(hub: RunningHub) -> None:
    """The namespace parses with the declared model and the handler is typed with it."""
    for path, namespace in live_namespaces(hub.app).items():
        for name, (handler, declared) in namespace.handlers.items():
            parameters = list(inspect.signature(handler).parameters)
            assert len(parameters) == 3, (path, name, parameters)
            annotation = typing.get_type_hints(handler)[parameters[2]]
            wanted = type(None) if declared.payload is None else declared.payload
            assert annotation is wanted, f"{path} {name}: takes {annotation}, declares {wanted}"


def literal_emits(source: str, filename: str) -> list[str]:
    """Emit calls whose event is a string (or an f-string) rather than a declared ServerEvent."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in EMITTERS:
            continue
        position = EMITTERS[name]
        keyword = next((k.value for k in node.keywords if k.arg == "event"), None)
        event = node.args[position] if len(node.args) > position else keyword
        where = f"{filename}:{node.lineno}"
        if isinstance(event, ast.JoinedStr) or (
            isinstance(event, ast.Constant) and isinstance(event.value, str)
        ):
            found.append(where)
        elif (
            name == "emit"
            and not (isinstance(event, ast.Attribute) and event.attr == "name")
            and not _forwards(func)
        ):
            found.append(f"{where} (emit with EVENT.name)")
    return found


def _forwards(func: ast.expr) -> bool:
    """``super().emit(event, ...)``: a manager passing on the event it was given, naming none."""
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def emit_calls(source: str) -> int:
    return sum(
        1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EMITTERS
    )


def test_no_emit_site_names_its_event_with_a_string() -> None:
    files = [path for package in SOURCES for path in sorted((ROOT / package).rglob("*.py"))]
    sources = {path.relative_to(ROOT): path.read_text(encoding="utf-8") for path in files}
    assert sum(emit_calls(source) for source in sources.values()) >= 20, "the scan found no emit site"
    offenders = [hit for path, source in sources.items() for hit in literal_emits(source, str(path))]
    assert offenders == [], "declare the event in hub.protocol (or the extension's) and pass it"


def test_the_emit_scan_catches_a_string_event() -> None:
    sneaky = """
async def f(self, realtime, sid):
    await self.emit("sneaky", {}, to=sid)
    await self.emit(SNEAKY_EVENT, {}, to=sid)
    await realtime.to_user("u-1", "worker", "sneaky", {})
    await realtime.to_members([], event=f"chat:{sid}", data={})
    await realtime.to_agents(GOOD, {})
    await self.emit(GOOD.name, {}, to=sid)
    await super().emit(event, data, namespace)
    await super().emit("sneaky", {}, "/")
"""
    # A manager's super().emit passing on the event it was given names none; a string there does.
    assert len(literal_emits(sneaky, "sneaky.py")) == 5


# What the hub sends matches the document -------------------------------------------------------------


class Conformance:
    """Checks everything a running hub sends against its own document: each event it emits (its
    name on that namespace and its payload), each ack, and each payload it accepted."""

    def __init__(self, app: web.Application) -> None:
        doc = document(app[PROTOCOL])
        components = {"components": doc["components"]}

        def validator(schema: dict[str, Any]) -> Any:
            # The document's schema dialect (AsyncAPI Schema, a superset of draft 7), formats checked.
            return jsonschema_rs.Draft7Validator({**schema, **components}, validate_formats=True)

        self.requests: dict[tuple[str, str], Any] = {}
        self.replies: dict[tuple[str, str], Any] = {}
        for key, message in operations_by_action(doc, "receive").items():
            if "payload" in message:
                self.requests[key] = validator(message["payload"])
        for operation in doc["operations"].values():
            if operation["action"] == "receive":
                address = resolve(doc, operation["channel"]["$ref"])["address"]
                name = resolve(doc, operation["messages"][0]["$ref"])["name"]
                reply = resolve(doc, operation["reply"]["messages"][0]["$ref"])
                self.replies[(address, name)] = validator(reply["payload"])
        self.events = {key: validator(m["payload"]) for key, m in operations_by_action(doc, "send").items()}
        self.refused = validator({"$ref": "#/components/schemas/Refused"})
        self.failures: list[str] = []
        self.seen: set[tuple[str, str, str]] = set()  # (direction, namespace, event)
        self._attach(app)

    def _check(self, validator: Any, data: Any, what: str) -> None:
        wire = json.loads(json.dumps(data))
        errors = [f"{e.message} at {list(e.instance_path)}" for e in validator.iter_errors(wire)]
        if errors:
            self.failures.append(f"{what}: {errors[:3]} in {json.dumps(wire)[:500]}")

    def sent(self, namespace: str, event: str, data: Any) -> None:
        validator = self.events.get((namespace, event))
        if validator is None:
            self.failures.append(f"{namespace} sent {event!r}, which the document does not declare there")
            return
        self.seen.add(("on", namespace, event))
        self._check(validator, data, f"{namespace} {event}")

    def answered(self, namespace: str, event: str, payload: Any, ack: Any) -> None:
        key = (namespace, event)
        if key not in self.replies:
            self._check(self.refused, ack, f"{namespace} {event!r} (not an event of the namespace)")
            return
        self.seen.add(("emit", namespace, event))
        self._check(self.replies[key], ack, f"{namespace} {event} ack")
        if isinstance(ack, dict) and ack.get("ok") and key in self.requests:
            self._check(
                self.requests[key], {} if payload is None else payload, f"{namespace} {event} payload"
            )

    def _attach(self, app: web.Application) -> None:
        sio = app[SIO]
        emit = sio.emit

        async def checked_emit(event: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
            self.sent(kwargs.get("namespace") or "/", event, data)
            return await emit(event, data, *args, **kwargs)

        sio.emit = checked_emit
        for path, namespace in live_namespaces(app).items():
            namespace.trigger_event = self._checked(path, namespace.trigger_event)

    def _checked(self, path: str, trigger: Callable[..., Any]) -> Callable[..., Any]:
        async def checked_trigger(event: str, *args: Any) -> Any:
            result = await trigger(event, *args)
            if result is not None or event not in ("connect", "disconnect"):
                self.answered(path, event, args[1] if len(args) > 1 else None, result)
            return result

        return checked_trigger


async def test_chat_and_support_traffic_matches_the_document(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start_hub()
    check = Conformance(hub.app)
    agent = await open_peer(hub, peers, "/support", "support", "a-1")
    await agent.next("presence:snapshot")
    await agent.ok("presence:set", {"status": "online"})
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    await customer.ok("ping")
    await customer.ok("support:availability")
    opened = await customer.ok("support:open")
    conv = opened["conversation"]["id"]
    await agent.next("conversation:assigned")
    await customer.ok("auth:refresh", {"token": hub.token("customer", "c-1")})
    assert await customer.error("auth:refresh", {}) == "token_missing"
    sent = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "m1", "body": "Hello"})
    await agent.next_where("chat:message", lambda m: m["id"] == sent["id"])
    await customer.ok("chat:typing", {"conversation_id": conv, "typing": True})
    await agent.next("chat:typing")
    await agent.ok("chat:delivered", {"conversation_id": conv, "seq": sent["seq"]})
    await agent.ok("chat:read", {"conversation_id": conv, "seq": sent["seq"]})
    await customer.next("chat:receipt")
    await agent.ok("chat:history", {"conversation_id": conv, "limit": 10})
    await customer.ok("conversations:list")
    await agent.ok("support:queue")
    await agent.ok("presence:snapshot")
    await agent.ok("chat:join", {"conversation_id": conv})
    await agent.ok("conversation:resolve", {"conversation_id": conv})
    await customer.next("conversation:resolved")
    await customer.ok("conversation:csat", {"conversation_id": conv, "score": 5, "comment": "quick"})
    await agent.ok("conversation:reopen", {"conversation_id": conv})
    await customer.next("conversation:reopened")
    await customer.ok("app:state", {"state": "background"})
    await customer.ok("app:state", {"state": "foreground"})
    await customer.ok("notifications:list", {"limit": 5})
    # A second device that asks for its missed messages in the handshake.
    phone = await Peer("/customer").connect(
        hub.url, hub.token("customer", "c-1"), sync={"notifications_since": 0, "conversations": {conv: 0}}
    )
    peers.append(phone)
    replay = await phone.next("sync")
    assert replay["ok"] is True
    assert replay["data"]["conversations"][conv]["messages"]
    await customer.ok("sync", {"conversations": {str(uuid.uuid4()): 0}})
    await customer.ok("notifications:read", {"all": True})
    await phone.next("notifications:unread")
    # Refusals are acks too.
    assert await customer.error("chat:send", {"conversation_id": conv, "body": 5}) == "invalid_payload"
    assert await customer.error("no:such:event", {}) == "unknown_event"
    assert check.failures == []
    for kind, path, name in [
        ("on", "/support", "presence:snapshot"),
        ("on", "/support", "conversation:assigned"),
        ("on", "/customer", "conversation:assigned"),
        ("on", "/customer", "chat:receipt"),
        ("on", "/customer", "sync"),
        ("on", "/customer", "notifications:unread"),
        ("emit", "/customer", "conversation:csat"),
    ]:
        assert (kind, path, name) in check.seen


async def test_booking_traffic_matches_the_document(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=3)
    check = Conformance(hub.app)
    workers = [await open_peer(hub, peers, "/worker", "worker", f"w-{n}") for n in (1, 2, 3)]
    for worker in workers:
        await worker.ok("presence:set", {"status": "online"})
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    agent = await open_peer(hub, peers, "/support", "support", "agent-1")
    booking = await book_and_pay(hub)
    offers = [await worker.next("offer") for worker in workers]
    await workers[0].ok("offer:list")
    await workers[0].ok("offer:seen", {"offer_id": offers[0]["offer_id"]})
    await workers[2].ok("offer:decline", {"offer_id": offers[2]["offer_id"], "reason": "too far"})
    await workers[0].ok("offer:accept", {"offer_id": offers[0]["offer_id"]})
    await workers[1].next("offer:taken")
    lat, lng = CENTRE
    step = {"booking_id": booking["id"]}
    await workers[0].ok("job:depart", {**step, "lat": lat, "lng": lng + 0.01, "eta_minutes": 12})
    assert await workers[0].ok("job:location", {**step, "lat": lat, "lng": lng + 0.005}) == {
        "forwarded": True
    }
    await customer.next("booking:location")
    # Far from the address: accepted, flagged, and support gets an order:alert.
    await workers[0].ok("job:arrive", {**step, "lat": lat + 0.05, "lng": lng})
    await agent.next("order:alert")
    await workers[0].ok("job:start", step)
    await workers[0].ok("job:finish", step)
    await customer.next_where("booking:updated", lambda u: u["entry"]["kind"] == "finished")
    await agent.next_where("booking:updated", lambda u: u["entry"]["kind"] == "finished")
    await customer.next("notification")
    assert await workers[0].error("job:start", {**step, "lat": 1}) == "invalid_payload"
    assert check.failures == []
    for kind, path, name in [
        ("on", "/worker", "offer"),
        ("on", "/worker", "offer:taken"),
        ("on", "/worker", "booking:updated"),
        ("on", "/customer", "booking:location"),
        ("on", "/support", "order:alert"),
        ("on", "/worker", "notification"),
        ("emit", "/worker", "offer:decline"),
        ("emit", "/worker", "job:arrive"),
    ]:
        assert (kind, path, name) in check.seen
