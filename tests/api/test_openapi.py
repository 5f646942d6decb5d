"""``/api/v1/openapi.json`` is true: every route is in it, and the routes behave as it says.

The first tests compare the document with the aiohttp router of a running hub (a route added
with a plain ``app.router.add_get`` is missing from the document and fails them) and check the
authentication every operation declares. The last one is a property-based run of schemathesis
against the live hub over real HTTP: for every operation in the served document (no list here,
so bookings routes are covered as they appear), requests generated from the document, valid and
invalid, sent with a token of a role the operation allows, must never get a 5xx, must get a
documented status with the documented content type and body, and every error must be the
``{"error": {"code", "message", "details"?}}`` envelope.

The hub runs in the test's event loop; schemathesis is synchronous (requests), so it runs in a
worker thread while the loop serves. Generation is derandomized: the same requests every run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import typing
from collections import Counter, defaultdict
from typing import Any

import pydantic
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.acks import Payload
from hub.app import build_app
from hub.auth import Principal, Role
from hub.bus import Bus
from hub.chat import support
from hub.events import Event
from hub.keys import DATABASE
from hub.settings import Settings
from hub.storage import notifications as inbox
from hub.storage.outbox import publish
from hub.web.http import Me
from hub.web.openapi import OPERATIONS
from hub.web.openapi import document as document_of
from tests.support.hubs import RunningHub, StartHub
from tests.support.push_fakes import ACCOUNT
from tests.support.waiting import wait_until

# Generated multipart uploads may carry a malformed Content-Disposition; aiohttp warns and parses
# on (the route then answers 422), and these warnings must not become errors in the in-process hub.
pytestmark = pytest.mark.filterwarnings(
    "ignore::aiohttp.multipart.BadContentDispositionHeader",
    "ignore::aiohttp.multipart.BadContentDispositionParam",
)

DOCUMENT = "/api/v1/openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
# Per operation and generation mode: the fixed CI run takes well under a minute;
# HUB_FUZZ_HTTP_EXAMPLES raises it for a long run (its time bound grows with it).
MAX_EXAMPLES = int(os.environ.get("HUB_FUZZ_HTTP_EXAMPLES", "20"))
REQUEST_TIMEOUT = 10.0
# The whole property-based run is bounded by this much per operation (the API grows; a loaded
# machine answers slower).
SECONDS_PER_OPERATION = 2.5 * max(1.0, MAX_EXAMPLES / 20)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def user_of(role: str) -> str:
    return f"fuzz-{role}"


async def get_document(hub: RunningHub) -> dict[str, Any]:
    status, document = await hub.http("GET", DOCUMENT)
    assert status == 200, document
    assert isinstance(document, dict)
    return document


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, canonical path) of every aiohttp route under /api/v1 (automatic HEADs aside)."""
    routes = {
        (route.method.upper(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1")
    }
    return {(m, path) for m, path in routes if not (m == "HEAD" and ("GET", path) in routes)}


def documented(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def concrete(path: str, operation: dict[str, Any]) -> str:
    """``path`` with every path parameter filled with a value of its declared type."""
    params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
    formats = {p["name"]: p.get("schema", {}).get("format") for p in params}
    return re.sub(r"{([^}]+)}", lambda m: NIL_UUID if formats.get(m.group(1)) == "uuid" else "x", path)


async def test_every_api_route_is_documented_and_nothing_else(hub: RunningHub) -> None:
    document = await get_document(hub)
    assert document["openapi"] == "3.1.0"
    routes, in_document = api_routes(hub.app), set(documented(document))
    assert routes - in_document == set(), (
        "routes missing from the OpenAPI document (use hub.openapi.Operation)"
    )
    assert in_document - routes == set(), "documented operations that are not routes"
    assert ("GET", DOCUMENT) in routes


def test_a_route_added_without_an_operation_is_caught(hub_env: dict[str, str]) -> None:
    """The comparison above is not vacuous: a plain aiohttp route shows up as undocumented."""

    async def sneaky(request: web.Request) -> web.Response:
        return web.json_response({})

    app = build_app(Settings.from_env(hub_env))
    app.router.add_get("/api/v1/sneaky", sneaky)
    missing = api_routes(app) - set(documented(document_of(app[OPERATIONS])))
    assert missing == {("GET", "/api/v1/sneaky")}


async def test_every_operation_documents_its_responses_and_auth_errors(hub: RunningHub) -> None:
    document = await get_document(hub)
    schemathesis.openapi.from_dict(document, config=run_config()).validate()  # valid OpenAPI 3.1
    ids = [operation["operationId"] for operation in documented(document).values()]
    assert len(ids) == len(set(ids)), "operationId must be unique"
    for (method, path), operation in documented(document).items():
        where = f"{method} {path}"
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), where
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == {"$ref": ENVELOPE_REF}, where
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), where
            roles = operation.get("x-roles")
            assert roles, f"{where}: an authenticated operation names the roles that may call it"
            assert set(roles) <= set(Role), where


def is_payload(model: Any) -> bool:
    """A ``hub.acks.Payload``, or a root model over payloads only (a discriminated union)."""
    if issubclass(model, Payload):
        return True
    if issubclass(model, pydantic.RootModel):
        members = typing.get_args(model.model_fields["root"].annotation)
        return bool(members) and all(is_payload(member) for member in members)
    return False


async def test_every_body_and_query_model_is_a_payload(hub: RunningHub) -> None:
    """``Payload`` refuses text PostgreSQL cannot hold, at any depth; a request model that is not
    one would let it through to the database."""
    for operation in hub.app[OPERATIONS]:
        for model in (operation.body, operation.query):
            assert model is None or is_payload(model), f"{operation.method} {operation.path}: {model}"
    assert not is_payload(Me)  # not vacuous


async def test_operations_refuse_callers_without_a_token_or_an_allowed_role(hub: RunningHub) -> None:
    """Authentication comes first, whatever the parameters and the body, with the declared roles."""
    document = await get_document(hub)
    for (method, path), operation in documented(document).items():
        if not operation.get("security"):
            continue
        url = concrete(path, operation)
        status, body = await hub.http(method, url)
        assert (status, body["error"]["code"]) == (401, "token_missing"), f"{method} {url}: {body}"
        for role in set(Role) - set(operation["x-roles"]):
            status, body = await hub.http(method, url, hub.token(role, user_of(role)))
            assert (status, body["error"]["code"]) == (403, "role_forbidden"), (
                f"{method} {url} as {role}: {body}"
            )


# The property-based run --------------------------------------------------------------------------


def run_config() -> schemathesis.Config:
    """An explicit configuration, so a schemathesis.toml lying around changes nothing. Security
    parameters are not generated: every request carries a real token (see ``call``)."""
    return schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})


def error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is exactly ``{"error": {"code", "message", "details"?}}``."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} without JSON: {response.content[:200]!r}") from None
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert set(error) <= {"code", "message", "details"}, body
    for key in ("code", "message"):
        assert isinstance(error.get(key), str), body
        assert error[key], body
    return None


def declared_roles_allowed(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """The token is of a role the document allows, so the route must not refuse the role."""
    if response.status_code in (401, 403):
        code = json.loads(response.content)["error"]["code"]
        assert code != "role_forbidden", "the route refuses a role its x-roles allow"
        assert response.status_code != 401, f"a valid token was refused: {code}"
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_envelope,
    declared_roles_allowed,
]


SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run, so CI is reproducible
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    verbosity=Verbosity.quiet,
    report_multiple_bugs=False,
)


class Fuzzer:
    """Sends schemathesis cases to the hub with a token per operation; collects failure reports
    (one per operation and mode, so a single run shows every broken operation)."""

    def __init__(self, hub: RunningHub, document: dict[str, Any], session: requests.Session) -> None:
        self.hub = hub
        self.document = documented(document)
        self.schema = schemathesis.openapi.from_dict(document, config=run_config())
        self.session = session
        self.failures: list[str] = []
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)

    def operations(self) -> list[schemathesis.APIOperation]:
        return [result.ok() for result in self.schema.get_all_operations()]

    def headers(self, method: str, path: str) -> dict[str, str]:
        """A token of the first role the operation allows, or nothing for an open operation."""
        operation = self.document[(method.upper(), path)]
        if not operation.get("security"):
            return {}
        role = operation["x-roles"][0]
        return {"Authorization": f"Bearer {self.hub.token(role, user_of(role))}"}

    def call(self, case: Case) -> Response:
        headers = self.headers(case.method, case.operation.path)
        response = case.call(
            base_url=self.hub.url, session=self.session, headers=headers, timeout=REQUEST_TIMEOUT
        )
        self.statuses[case.operation.label][response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        return response

    def fuzz(self, operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
        @SETTINGS
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Case) -> None:
            self.call(case)

        try:
            run()
        except Unsatisfiable:
            # Nothing to make invalid (no parameters or body, or unconstrained strings only).
            assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be generated"
        except (Exception, FailureGroup) as exc:  # the checks' failures, or a transport error
            self.failures.append(f"{operation.label} ({mode.value}):\n{exc}")

    def example(self, method: str, path: str, **data: Any) -> Response | None:
        """One explicit case; its response, or None after recording why it failed."""
        try:
            return self.call(self.schema[path][method].Case(**data))
        except (Exception, FailureGroup) as exc:
            self.failures.append(f"{method} {path} (example {data}):\n{exc}")
            return None

    def examples(self) -> None:
        """What generated data rarely gets right (a file with a valid signature, a device token
        the provider accepts), so that success responses are checked too."""
        stored = self.example("POST", "/api/v1/uploads", body=PNG, media_type="image/png")
        if stored is not None:
            assert stored.status_code == 201, stored.content
            upload_id = stored.json()["upload_id"]
            got = self.example("GET", "/api/v1/uploads/{upload_id}", path_parameters={"upload_id": upload_id})
            assert got is None or (got.status_code, got.content) == (200, PNG)
        body = {"platform": "fcm", "token": "fcm:fuzz-1", "locale": "en-GB"}
        device = self.example("POST", "/api/v1/devices", body=body)
        if device is not None:
            assert device.status_code == 201, device.content
            device_id = device.json()["id"]
            listed = self.example("GET", "/api/v1/devices")
            assert listed is None or device_id in [d["id"] for d in listed.json()["items"]]
            gone = self.example(
                "DELETE", "/api/v1/devices/{device_id}", path_parameters={"device_id": device_id}
            )
            assert gone is None or gone.status_code == 204

    def run(self) -> None:
        for operation in self.operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self.fuzz(operation, mode)
        self.examples()


async def seed(hub: RunningHub) -> None:
    """Something in every list, so item schemas are checked too, not only empty lists."""
    pool = hub.app[DATABASE].pool
    async with pool.acquire() as conn:
        for role in Role:
            await inbox.insert(
                conn,
                user_id=user_of(role),
                role=role,
                kind="booking.confirmed",
                title="Booking confirmed",
                body="Tomorrow at 9:00",
                data={"booking_id": "b-1", "nested": {"n": 1}},
                urgent=role == Role.WORKER,
            )
        async with conn.transaction():
            await publish(conn, Event("fuzz.dead", {}))  # dies at once: a dead letter for the admin
    customer = Principal(
        user_id=user_of(Role.CUSTOMER), role=Role.CUSTOMER, expires_at=int(time.time()) + 3600
    )
    await support.open_support(pool, customer)
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM events WHERE dead_at IS NOT NULL"))


async def test_schemathesis_finds_no_server_error_and_no_undocumented_response(start_hub: StartHub) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("subscriber down")

    bus = Bus()
    bus.subscribe("fuzz", broken, topics=["fuzz.dead"])
    # FCM configured (never called: nothing is pushed), so that device registrations can succeed.
    hub = await start_hub(bus=bus, HUB_OUTBOX_MAX_ATTEMPTS="1", HUB_FCM_SERVICE_ACCOUNT=json.dumps(ACCOUNT))
    await seed(hub)
    document = await get_document(hub)
    with requests.Session() as session:
        fuzzer = Fuzzer(hub, document, session)
        operations = fuzzer.operations()
        assert len(operations) == len(documented(document))
        bound = SECONDS_PER_OPERATION * len(operations)
        await asyncio.wait_for(asyncio.to_thread(fuzzer.run), timeout=bound)
    assert not fuzzer.failures, "\n\n".join(fuzzer.failures)
    sent = sum(sum(by_status.values()) for by_status in fuzzer.statuses.values())
    print(f"schemathesis: {sent} requests over {len(operations)} operations")
    # Not a vacuous run: every operation was called, and answered something other than 401/403.
    for operation in operations:
        assert set(fuzzer.statuses[operation.label]) - {401, 403}, (operation.label, fuzzer.statuses)
    assert await hub.http("GET", "/readyz") == (200, {"status": "ready"})  # still healthy afterwards
