"""Hostile input from any client: text PostgreSQL cannot hold, integers it cannot hold, names
that would break a header, oversized requests, unknown namespaces, malformed Socket.IO packets and
Engine.IO packets that do not parse. Each gets a clear error (or is dropped with a one-line
warning, or ends its connection), changes nothing, and leaves no traceback in the log."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import socketio

from hub.keys import CONTEXT, SIO
from tests.support.clients import Peer, RawSocket
from tests.support.hubs import RunningHub, StartHub
from tests.support.push_fakes import ACCOUNT
from tests.support.waiting import WAIT, wait_until

NUL = "a\x00b"
SURROGATE = "a\ud800b"
BIGINT_OVERFLOW = 2**63
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def _capture_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged as an error, nothing logged with a traceback."""
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [f"{r.name}: {r.getMessage()}" for r in loud]


def invalid_fields(ack: Any) -> list[list[Any]]:
    """The field locations of an ``invalid_payload`` error ack or HTTP error body."""
    error = ack["error"]
    assert error["code"] == "invalid_payload", ack
    return [detail["loc"] for detail in error["details"]]


async def message_count(hub: RunningHub) -> int:
    return int(await hub.app[CONTEXT].pool.fetchval("SELECT count(*) FROM messages"))


async def peer(hub: RunningHub, peers: list[Peer], namespace: str, role: str, sub: str) -> Peer:
    opened = await Peer(namespace).connect(hub.url, hub.token(role, sub))
    peers.append(opened)
    return opened


# Text PostgreSQL cannot hold: NUL and unpaired surrogates ----------------------------------------

SOCKET_TEXT = [
    ("/customer", "chat:send", {"client_id": NUL, "body": "hello"}, ["client_id"]),
    ("/customer", "chat:send", {"client_id": "m-1", "body": NUL}, ["body"]),
    ("/customer", "chat:send", {"client_id": "m-1", "body": SURROGATE}, ["body"]),
    ("/customer", "conversation:csat", {"score": 4, "comment": NUL}, ["comment"]),
    ("/support", "conversation:transfer", {"agent_id": NUL}, ["agent_id"]),
    ("/support", "presence:set", {"status": NUL}, ["status"]),
    ("/customer", "auth:refresh", {"token": NUL}, ["token"]),
    ("/customer", "sync", {"notifications_since": 0, NUL: 1}, [NUL]),
]


@pytest.mark.parametrize(("namespace", "event", "payload", "where"), SOCKET_TEXT)
async def test_text_no_database_can_hold_is_refused_on_every_event(
    hub: RunningHub,
    peers: list[Peer],
    caplog: pytest.LogCaptureFixture,
    namespace: str,
    event: str,
    payload: dict[str, Any],
    where: list[str],
) -> None:
    customer = await peer(hub, peers, "/customer", "customer", "c-1")
    conversation = (await customer.ok("support:open"))["conversation"]["id"]
    sender = customer if namespace == "/customer" else await peer(hub, peers, namespace, "support", "a-1")
    before = await message_count(hub)
    if "score" in payload or "agent_id" in payload or "body" in payload:
        payload = {"conversation_id": conversation, **payload}
    ack = await sender.call(event, payload)
    assert ack["ok"] is False, ack
    assert invalid_fields(ack) == [where]
    if event == "chat:send":
        assert await message_count(hub) == before
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"platform": "fcm", "token": NUL}, ["token"]),
        ({"platform": "fcm", "token": "fcm:1", "app_id": NUL}, ["app_id"]),
        ({"platform": "fcm", "token": "fcm:1", "locale": NUL}, ["locale"]),
    ],
)
async def test_text_no_database_can_hold_is_refused_in_http_bodies(
    start_hub: StartHub, caplog: pytest.LogCaptureFixture, body: dict[str, Any], where: list[str]
) -> None:
    hub = await start_hub(HUB_FCM_SERVICE_ACCOUNT=json.dumps(ACCOUNT))
    token = hub.token("customer", "c-1")
    raw = json.dumps(body).encode()  # ensure_ascii: the NUL travels as \u0000, as a client sends it
    status, error = await hub.http(
        "POST", "/api/v1/devices", token, data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 422, error
    assert invalid_fields(error) == [where]
    assert await hub.http("GET", "/api/v1/devices", token) == (200, {"items": [], "next_cursor": None})
    assert_no_traceback(caplog)


async def test_text_no_database_can_hold_in_a_path_is_an_unknown_id(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    token = hub.token("customer", "c-1")
    for value in ("a%00b", "%00"):
        status, error = await hub.http("GET", f"/api/v1/uploads/{value}", token)
        assert (status, error["error"]["code"]) == (404, "upload_not_found"), error
    assert_no_traceback(caplog)


# Integers PostgreSQL cannot hold -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload", "where"),
    [
        ("chat:history", {"limit": BIGINT_OVERFLOW}, ["limit"]),
        ("chat:read", {"seq": BIGINT_OVERFLOW}, ["seq"]),
        ("notifications:list", {"limit": BIGINT_OVERFLOW}, ["limit"]),
        ("notifications:read", {"seq": BIGINT_OVERFLOW}, ["seq"]),
        ("sync", {"notifications_since": BIGINT_OVERFLOW}, ["notifications_since"]),
    ],
)
async def test_integers_beyond_bigint_are_refused(
    hub: RunningHub,
    peers: list[Peer],
    caplog: pytest.LogCaptureFixture,
    event: str,
    payload: dict[str, Any],
    where: list[str],
) -> None:
    customer = await peer(hub, peers, "/customer", "customer", "c-1")
    conversation = (await customer.ok("support:open"))["conversation"]["id"]
    if event.startswith("chat:"):
        payload = {"conversation_id": conversation, **payload}
    ack = await customer.call(event, payload)
    assert ack["ok"] is False, ack
    assert invalid_fields(ack) == [where]
    assert_no_traceback(caplog)


async def test_integers_beyond_bigint_are_refused_over_http(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    token = hub.token("customer", "c-1")
    for value in (str(BIGINT_OVERFLOW), "9" * 5000, "1.5", "%00"):
        status, error = await hub.http("GET", f"/api/v1/notifications?limit={value}", token)
        assert status == 422, error
        assert invalid_fields(error) == [["limit"]]
    # Past Python's 4,300-digit limit for int(): the JSON parser refuses the body.
    body = b'{"platform": "fcm", "token": "fcm:1", "app_id": ' + b"9" * 5000 + b"}"
    status, error = await hub.http(
        "POST", "/api/v1/devices", token, data=body, headers={"Content-Type": "application/json"}
    )
    assert (status, error["error"]["code"]) == (422, "invalid_payload")
    assert_no_traceback(caplog)


# Upload filenames --------------------------------------------------------------------------------


def multipart(filename_parameter: str) -> tuple[bytes, dict[str, str]]:
    body = (
        b"--b0undary\r\n"
        + f'Content-Disposition: form-data; name="file"; {filename_parameter}\r\n'.encode()
        + b"Content-Type: image/png\r\n\r\n"
        + PNG
        + b"\r\n--b0undary--\r\n"
    )
    return body, {"Content-Type": "multipart/form-data; boundary=b0undary"}


async def raw_request(hub: RunningHub, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request written byte for byte (what aiohttp's client refuses to send); the status,
    headers and body of the answer."""
    reader, writer = await asyncio.open_connection(hub.server.host, hub.server.port)
    try:
        writer.write(head + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(WAIT):
            answer = await reader.read()  # the hub closes the connection after answering
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    head_block, _, content = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in head_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, content


async def download(hub: RunningHub, upload_id: str, token: str) -> tuple[str, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{hub.url}/api/v1/uploads/{upload_id}", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        assert response.status == 200
        return response.headers["Content-Disposition"], await response.read()


@pytest.mark.parametrize(
    ("sent", "stored", "disposition"),
    [
        # Line breaks and other control characters never reach the database or a header.
        (
            "filename*=UTF-8''a%0D%0Ab%00c%07.png",
            "a_b_c_.png",
            "attachment; filename=\"a_b_c_.png\"; filename*=UTF-8''a_b_c_.png",
        ),
        # A path is not a name: only its last part is kept.
        ('filename="../../etc/passwd"', "passwd", "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"),
        (
            "filename*=UTF-8''%E6%93%A6%E7%8E%BB%E7%92%83.jpg",
            "擦玻璃.jpg",
            "attachment; filename=\"___.jpg\"; filename*=UTF-8''%E6%93%A6%E7%8E%BB%E7%92%83.jpg",
        ),
        (
            'filename="say \\"cheese\\".png"',
            'say "cheese".png',
            "attachment; filename=\"say _cheese_.png\"; filename*=UTF-8''say%20%22cheese%22.png",
        ),
    ],
)
async def test_upload_filenames_are_cleaned_and_downloads_name_them_safely(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, sent: str, stored: str, disposition: str
) -> None:
    token = hub.token("customer", "c-1")
    body, headers = multipart(sent)
    status, upload = await hub.http("POST", "/api/v1/uploads", token, data=body, headers=headers)
    assert status == 201, upload
    assert upload["filename"] == stored
    assert await download(hub, upload["upload_id"], token) == (disposition, PNG)
    assert_no_traceback(caplog)


async def test_the_filename_header_is_cleaned_too(hub: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
    token = hub.token("customer", "c-1")
    for sent, stored in [
        ("擦玻璃.jpg".encode(), "擦玻璃.jpg"),
        (b"a\xffb.png", "a_b.png"),
        (b"x" * 300, "x" * 255),
    ]:
        head = (
            b"POST /api/v1/uploads HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nContent-Type: image/png\r\nX-Filename: "
            + sent
            + f"\r\nContent-Length: {len(PNG)}".encode()
        )
        status, _, content = await raw_request(hub, head, PNG)
        assert status == 201, content
        upload = json.loads(content)
        assert upload["filename"] == stored
        disposition, _ = await download(hub, upload["upload_id"], token)
        assert disposition.endswith(f"filename*=UTF-8''{quote(stored, safe='')}")
    assert_no_traceback(caplog)


# Requests aiohttp's parser refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Big: " + b"x" * 9000, "request_head_too_large"),
        (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: hub", "request_head_too_large"),
        (b"GET /healthz?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: hub", "request_head_too_large"),
        (b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Bad: a\x01b", "request_malformed"),
    ],
    ids=["header-over-8kb", "path-over-8kb", "query-over-8kb", "control-character"],
)
async def test_requests_the_parser_refuses_get_the_envelope_and_no_traceback(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, head: bytes, code: str
) -> None:
    status, headers, content = await raw_request(hub, head)
    assert status == 400
    assert headers["content-type"].startswith("application/json"), content
    assert headers["connection"] == "close"
    assert json.loads(content)["error"]["code"] == code
    assert any(
        r.name == "hub.web.http" and "refused a malformed request" in r.getMessage() for r in caplog.records
    )
    assert_no_traceback(caplog)
    assert await hub.http("GET", "/healthz") == (200, {"status": "ok"})


# Namespaces the hub does not serve ---------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["/", "/admin"])
async def test_unknown_namespaces_are_refused(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, namespace: str
) -> None:
    for auth in ({}, {"token": hub.token("customer", "c-1")}):
        refused = await hub.refusal(namespace, auth)
        assert refused["code"] == "namespace_not_found", refused
        assert "/customer" in refused["message"]
    assert_no_traceback(caplog)


# Malformed Socket.IO packets ---------------------------------------------------------------------

DEEP = "[" * 1200 + "]" * 1200
HUGE = "9" * 5000


@pytest.mark.parametrize(
    "packet",
    [
        '2/customer,5[1,"x"]',  # the event name is not a string
        '2/customer,5[["ping"]]',
        "2/customer,5[]",
        '2/customer,5{"event":"ping"}',
        '2/customer,5"ping"',
        '2/customer,5["ping",',  # truncated JSON
        "2/customer,5" + DEEP,
        '2/customer,5["ping",' + DEEP + "]",
        '2/customer,5["chat:history",{"limit":' + HUGE + "}]",
        '2/customer,5["ping",' + "1" * 200 + "]",
    ],
)
async def test_malformed_events_with_an_ack_id_get_an_error_ack(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, packet: str
) -> None:
    raw = await RawSocket.open(hub.url)
    try:
        assert "sid" in await raw.connect("/customer", {"token": hub.token("customer", "c-1")})
        await raw.send(packet)
        ack = await raw.ack("/customer", 5)
        assert ack["ok"] is False
        assert ack["error"]["code"] == "invalid_packet", ack
        await raw.send('2/customer,6["ping"]')
        assert (await raw.ack("/customer", 6))["ok"] is True  # the socket lives on
    finally:
        await raw.close()
    assert any(r.levelno == logging.WARNING and "malformed" in r.getMessage() for r in caplog.records)
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "x",
        "9",  # no such packet type
        "4/customer,{}",  # CONNECT_ERROR is the server's to send
        '2/customer,["ping",',
        '2/customer,[1,"x"]',
        "2/customer,[]",
        '2/customer,["ping",' + HUGE + "]",
        "3/customer,7" + DEEP,
        '2/nowhere,5["ping"]',  # a namespace the socket is not connected to
        "1/nowhere,",
    ],
)
async def test_malformed_packets_without_an_ack_id_are_dropped_quietly(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, packet: str
) -> None:
    raw = await RawSocket.open(hub.url)
    try:
        assert "sid" in await raw.connect("/customer", {"token": hub.token("customer", "c-1")})
        await raw.send(packet)
        await raw.send('2/customer,6["ping"]')
        # Packets are handled in order: the next answer is the ping's, so nothing answered the first.
        assert (await raw.ack("/customer", 6))["ok"] is True
    finally:
        await raw.close()
    assert_no_traceback(caplog)


async def test_a_binary_event_with_a_bad_placeholder_gets_an_error_ack(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    raw = await RawSocket.open(hub.url)
    try:
        assert "sid" in await raw.connect("/customer", {"token": hub.token("customer", "c-1")})
        await raw.send('51-/customer,5["ping",{"_placeholder":true,"num":9}]')
        await raw.ws.send_bytes(b"\x01\x02")
        assert (await raw.ack("/customer", 5))["error"]["code"] == "invalid_packet"
        await raw.send('2/customer,6["ping"]')
        assert (await raw.ack("/customer", 6))["ok"] is True
    finally:
        await raw.close()
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("packet", "code"),
    [
        ('0/customer,{"token":"\\ud800"}', "token_invalid"),
        ('0/customer,{"token":"\\ud800.\\udfff.x"}', "token_invalid"),
        ('0/customer,{"token":', "invalid_packet"),
        ('0/customer,{"token":"' + "x" * 10 + '","sync":' + DEEP + "}", "invalid_packet"),
    ],
)
async def test_malformed_connects_get_a_connect_error(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, packet: str, code: str
) -> None:
    raw = await RawSocket.open(hub.url)
    try:
        await raw.send(packet)
        answer = await raw.receive()
        assert answer is not None
        assert answer.startswith("4/customer,"), answer
        assert json.loads(answer.partition(",")[2])["code"] == code
    finally:
        await raw.close()
    assert_no_traceback(caplog)


async def test_a_stream_of_malformed_packets_costs_the_socket_its_connection(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    raw = await RawSocket.open(hub.url)
    try:
        assert "sid" in await raw.connect("/customer", {"token": hub.token("customer", "c-1")})
        for _ in range(60):
            await raw.send("2/customer,[]")
        abuse = await raw.receive()
        assert abuse is not None
        assert abuse.startswith('2/customer,["server:abuse"'), abuse
        assert await raw.receive() == "1/customer,"  # disconnected from the namespace
    finally:
        await raw.close()
    assert_no_traceback(caplog)


# Engine.IO packets python-engineio cannot parse --------------------------------------------------

MALFORMED_COUNT = 'hub_socket_events_total{event="<malformed>",namespace="/customer",outcome="refused"} 1.0'


@pytest.mark.parametrize(
    "frame",
    ["x", "", "9", "7probe", "0", "6", "4" + DEEP, "bx"],
    ids=["junk", "empty", "unknown-type", "unknown-type-7", "open", "noop", "deep-json", "bad-base64"],
)
async def test_engine_io_packets_that_do_not_parse_close_the_websocket(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    raw = await RawSocket.open(hub.url)
    try:
        assert "sid" in await raw.connect("/customer", {"token": hub.token("customer", "c-1")})
        await raw.ws.send_str(frame)
        assert await raw.receive() is None
        assert raw.ws.closed
        assert raw.ws.close_code == aiohttp.WSCloseCode.PROTOCOL_ERROR
    finally:
        await raw.close()
    refused = [r for r in caplog.records if "invalid Engine.IO packet" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.INFO], [r.getMessage() for r in refused]
    assert_no_traceback(caplog)
    _, metrics = await hub.http("GET", "/metrics")
    assert MALFORMED_COUNT in metrics  # counted as the abuse a malformed Socket.IO packet is
    client = await hub.connect("/customer", hub.token("customer", "c-2"))
    assert (await client.call("ping", namespace="/customer", timeout=WAIT))["ok"] is True


@pytest.mark.parametrize(
    "body",
    [b"x", b"9", b"6", b"4hello\x1e", b"\xff\xfe", b"bx", b"3\x1e" * 20, b"4" + DEEP.encode()],
    ids=[
        "junk",
        "unknown-type",
        "noop",
        "empty-packet",
        "not-utf8",
        "bad-base64",
        "too-many-packets",
        "deep",
    ],
)
async def test_engine_io_payloads_that_do_not_parse_end_the_polling_session(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        endpoint, sid = await polling_session(session, hub)
        async with session.post(endpoint, data=body) as response:
            assert response.status == 400
    assert sid not in hub.app[SIO].eio.sockets
    refused = [r for r in caplog.records if "invalid Engine.IO packet" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.INFO], [r.getMessage() for r in refused]
    assert_no_traceback(caplog)
    assert await hub.http("GET", "/healthz") == (200, {"status": "ok"})


@pytest.mark.parametrize("transports", [["polling"], ["polling", "websocket"]], ids=["polling", "upgrade"])
async def test_clients_that_poll_or_upgrade_pass_the_checks(
    hub: RunningHub, caplog: pytest.LogCaptureFixture, transports: list[str]
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    hub.clients.append(client)
    await client.connect(
        hub.url,
        namespaces=["/customer"],
        auth={"token": hub.token("customer", "c-1")},
        transports=transports,
        wait_timeout=WAIT,
    )
    # A binary attachment travels over polling as a base64 packet.
    for payload in (None, {"blob": b"\x00\xff" * 8}):
        assert (await client.call("ping", payload, namespace="/customer", timeout=WAIT))["ok"] is True
    assert client.transport() == transports[-1]
    # Closed by the hub: a polling client's own goodbye leaves its last poll unanswered for 30 s.
    await asyncio.wait_for(hub.app[SIO].eio.disconnect(client.eio.sid), WAIT)
    await wait_until(lambda: not client.connected)
    assert not [r for r in caplog.records if "invalid Engine.IO packet" in r.getMessage()]
    assert_no_traceback(caplog)


async def polling_session(session: aiohttp.ClientSession, hub: RunningHub) -> tuple[str, str]:
    """Open an Engine.IO session over long-polling: its endpoint, with the sid."""
    endpoint = f"{hub.url}/socket.io/?EIO=4&transport=polling"
    async with session.get(endpoint) as response:
        opening = await response.text()
    assert opening.startswith("0{"), opening
    sid = json.loads(opening[1:])["sid"]
    return f"{endpoint}&sid={sid}", sid


async def test_an_upgrade_probe_that_does_not_parse_ends_the_session(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        endpoint, sid = await polling_session(session, hub)
        upgrade = endpoint.replace("transport=polling", "transport=websocket")
        async with session.ws_connect(upgrade) as ws:
            await ws.send_str("x")  # instead of "2probe"
            closing = await ws.receive(timeout=WAIT)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, aiohttp.WSCloseCode.PROTOCOL_ERROR)
    sessions = hub.app[SIO].eio.sockets
    assert sid not in sessions or sessions[sid].closed  # python-engineio forgets it at its next sweep
    refused = [r for r in caplog.records if "invalid Engine.IO packet" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.INFO], [r.getMessage() for r in refused]
    assert_no_traceback(caplog)
