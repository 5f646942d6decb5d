"""``/api/v1/asyncapi.json``: the Socket.IO protocol as an AsyncAPI 3.0 document, generated from
the live declarations like ``/api/v1/openapi.json`` is from the routes.

One channel per namespace (its address is the namespace path). Each event a namespace handles
(its handler table, after the extensions attached: ``hub.protocol.ClientEvent``) is a
``receive`` operation whose ``reply`` is the ack envelope; each registered
``hub.protocol.ServerEvent`` is a ``send`` operation on every namespace it reaches. Payloads are
pydantic's JSON Schemas, kept once in ``components/schemas``.

Message keys read as a client uses them: ``emit-chat-send`` is what it emits (``chat:send``),
``emit-chat-send-ack`` the ack it gets back, ``on-chat-message`` what it listens to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic
from aiohttp import web
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub.namespaces.payloads import HandshakeAuth
from hub.protocol import ClientEvent, Refused, ServerEvent
from hub.ratelimit import LIMITS
from hub.web.openapi import API_VERSION, Operation, add_operations

if TYPE_CHECKING:
    from hub.namespaces.base import AuthenticatedNamespace

ASYNCAPI_VERSION = "3.0.0"
SOCKET_PATH = "/socket.io/"
_REF = "#/components/schemas/{model}"
_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")  # what AsyncAPI allows as a map key
_CONNECT_ERRORS = (
    "token_missing, token_invalid, token_expired, token_not_yet_valid, role_forbidden, invalid_packet, "
    "internal_error (and namespace_not_found for a namespace the hub does not serve)"
)


@dataclass(slots=True)
class Protocol:
    """What the document describes: the namespaces (whose handler tables the extensions extend)
    and the server events the core and the extensions registered."""

    namespaces: Mapping[str, AuthenticatedNamespace]
    content_type: str = "application/json"
    server_events: list[ServerEvent] = field(default_factory=list)

    def add_server_events(self, events: Iterable[ServerEvent]) -> None:
        """Register events the hub sends; one name is declared once per namespace."""
        for event in events:
            unknown = set(event.namespaces) - set(self.namespaces)
            if unknown:
                raise ValueError(f"{event.name!r} names unknown namespaces {sorted(unknown)}")
            if not event.namespaces:
                raise ValueError(f"{event.name!r} names no namespace")
            for known in self.server_events:
                if known.name == event.name and set(known.namespaces) & set(event.namespaces):
                    raise ValueError(f"server event {event.name!r} is already declared")
            self.server_events.append(event)


PROTOCOL = web.AppKey("protocol", Protocol)


def document(protocol: Protocol, host: str = "localhost", secure: bool = False) -> dict[str, Any]:
    namespaces = protocol.namespaces
    wanted: set[tuple[type[pydantic.BaseModel], JsonSchemaMode]] = {
        (Refused, "serialization"),
        (HandshakeAuth, "validation"),
    }
    for namespace in namespaces.values():
        for _, declared in namespace.handlers.values():
            if declared.payload is not None:
                wanted.add((declared.payload, "validation"))
            if declared.ack is not None:
                wanted.add((declared.ack, "serialization"))
    wanted |= {(event.payload, "serialization") for event in protocol.server_events}
    refs, schemas = models_json_schema(
        sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1])), ref_template=_REF
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for path, namespace in namespaces.items():
        channel_id = _key(path.strip("/"))
        channels[channel_id] = _channel(channel_id, namespace, protocol.server_events, refs, operations)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Home-services hub Socket.IO API",
            "version": API_VERSION,
            "description": (
                "Every client→server event is answered with one ack envelope: "
                '`{"ok": true, "data": ...}` or `{"ok": false, "error": {"code", "message", '
                '"details"?}}`. A refused event changes nothing and the socket stays connected; '
                "payloads are validated strictly (unknown keys are refused, strings are not turned "
                "into numbers; text must not contain NUL or unpaired surrogates). Codes every event "
                "may answer: invalid_payload, rate_limited, db_unavailable (the database did not "
                "answer in time; retry after details.retry_after_ms, with the same client_id for "
                "chat:send), internal_error (and unknown_event for a name the namespace does not "
                "handle, invalid_packet for a packet that cannot be read). "
                "HTTP routes: /api/v1/openapi.json."
            ),
        },
        "defaultContentType": protocol.content_type,
        "servers": {
            "hub": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "pathname": SOCKET_PATH,
                "title": "This hub",
                "description": (
                    "Socket.IO 5 (Engine.IO 4) over WebSocket, or HTTP long-polling upgraded to it. "
                    "With Redis configured every node serves every namespace."
                ),
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(schemas.get("$defs", {})),
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        'The JWT goes in the Socket.IO auth object of the connection: `{"token": '
                        '"<JWT>"}` (not in an HTTP header); see x-auth for the whole object. A '
                        'refused connection gets connect_error with `{"code", "message"}`, code '
                        f"one of {_CONNECT_ERRORS}. The socket lives no longer than the token: "
                        "renew it with auth:refresh."
                    ),
                    "x-auth": refs[(HandshakeAuth, "validation")],
                }
            },
        },
    }


Refs = Mapping[tuple[Any, JsonSchemaMode], Any]


def _channel(
    channel_id: str,
    namespace: AuthenticatedNamespace,
    server_events: Sequence[ServerEvent],
    refs: Refs,
    operations: dict[str, Any],
) -> dict[str, Any]:
    """The namespace's channel with its messages; its operations go into ``operations``."""
    path: str = namespace.namespace
    channel = {"$ref": f"#/channels/{channel_id}"}
    messages: dict[str, Any] = {}

    def add(key: str, message: dict[str, Any]) -> dict[str, str]:
        if key in messages:
            raise ValueError(f"{path}: two events make the message key {key!r}")
        messages[key] = message
        return {"$ref": f"#/channels/{channel_id}/messages/{key}"}

    for name, (_, declared) in namespace.handlers.items():
        key = "emit-" + _key(name)
        request = add(key, _request(declared, refs))
        reply = add(f"{key}-ack", _reply(declared, refs))
        operations[f"{channel_id}-{key}"] = _receive(declared, channel, request, reply)
    for event in server_events:
        if path in event.namespaces:
            key = "on-" + _key(event.name)
            message = add(key, _event_message(event, refs))
            operations[f"{channel_id}-{key}"] = _send(event, channel, message)
    roles = sorted(namespace.allowed_roles)
    return {
        "address": path,
        "title": path,
        "description": (
            f"The Socket.IO namespace {path}. Roles admitted: {', '.join(roles)}. On connect the "
            "socket joins its person's room, so every device of one person gets their events."
        ),
        "messages": messages,
        "x-roles": [str(role) for role in roles],
    }


def _key(name: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
    if not _KEY.match(key):
        raise ValueError(f"{name!r} makes no usable key")
    return key


def _described(out: dict[str, Any], summary: str, description: str) -> dict[str, Any]:
    out["summary"] = summary
    if description:
        out["description"] = description
    return out


def _request(declared: ClientEvent, refs: Refs) -> dict[str, Any]:
    message: dict[str, Any] = {"name": declared.name, "title": declared.name}
    if declared.payload is None:
        return _described(message, declared.summary, "No payload: whatever is sent is ignored.")
    message["payload"] = refs[(declared.payload, "validation")]
    return _described(message, declared.summary, "")


def _reply(declared: ClientEvent, refs: Refs) -> dict[str, Any]:
    data = {"type": "null"} if declared.ack is None else refs[(declared.ack, "serialization")]
    done = {
        "type": "object",
        "properties": {"ok": {"const": True}, "data": data},
        "required": ["ok", "data"],
        "additionalProperties": False,
    }
    return {
        "title": f"{declared.name} ack",
        "summary": f"The ack of {declared.name}: its data, or the error that refused it",
        "payload": {"oneOf": [done, refs[(Refused, "serialization")]]},
    }


def _receive(
    declared: ClientEvent, channel: dict[str, str], request: dict[str, str], reply: dict[str, str]
) -> dict[str, Any]:
    limit = LIMITS[declared.limit]
    out: dict[str, Any] = {
        "action": "receive",
        "channel": channel,
        "title": declared.name,
        "messages": [request],
        "reply": {"channel": channel, "messages": [reply]},
        # Token bucket per socket; a refusal is answered rate_limited with details.retry_after_ms.
        "x-rate-limit": {"bucket": declared.limit, "per_second": limit.rate, "burst": limit.burst},
    }
    return _described(out, declared.summary, declared.description)


def _event_message(event: ServerEvent, refs: Refs) -> dict[str, Any]:
    message = {"name": event.name, "title": event.name, "payload": refs[(event.payload, "serialization")]}
    return _described(message, event.summary, event.description)


def _send(event: ServerEvent, channel: dict[str, str], message: dict[str, str]) -> dict[str, Any]:
    out = {"action": "send", "channel": channel, "title": event.name, "messages": [message]}
    return _described(out, event.summary, event.description)


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[PROTOCOL], request.host, request.secure))


class AsyncApiDocument(pydantic.BaseModel):
    """An AsyncAPI 3.0 document (only its top level is described here)."""

    model_config = pydantic.ConfigDict(extra="allow")

    asyncapi: str
    info: dict[str, Any]
    servers: dict[str, Any]
    channels: dict[str, Any]
    operations: dict[str, Any]
    components: dict[str, Any]


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/asyncapi.json",
        serve_document,
        summary="The Socket.IO protocol (AsyncAPI 3.0): namespaces, events, payloads and acks",
        tag="meta",
        auth=False,
        responses={200: AsyncApiDocument},
        database=False,
    )
]


def add_routes(app: web.Application) -> None:
    add_operations(app, OPERATIONS)
