"""Local stand-ins for the push providers, on real sockets; tests/hub/test_push_fakes.py checks that
they really refuse what they claim to.

- ``FakeGoogle``: Google's OAuth2 token endpoint and the FCM HTTP v1 ``messages:send`` endpoint
  (aiohttp). Verifies the JWT-bearer assertion's RS256 signature with the service account's
  public key, every claim, and that each send carries an access token it issued.
- ``FakeApns``: APNs over HTTP/2 with TLS (hypercorn, trustme certificate). Refuses anything that
  did not arrive over HTTP/2, verifies the provider token's ES256 signature with the key's public
  half, its header and claims, and every ``apns-*`` header.
- ``FakeWebhook``: a receiver that verifies ``X-Hub-Signature`` exactly as the hub documents.

The expected values are written out here from the providers' documentation, not imported from
hub code, so the two cannot drift together. A request that breaks a rule is answered with the
provider's error and appended to ``violations``; tests assert that list is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from hub.push.config import PushConfig

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
WEBHOOK_SECRET = "webhook-secret-that-is-long-enough-0123456789"


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    at: float  # time.monotonic()
    token: str  # device token (FCM, APNs) or hook name (webhook)
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class Scripted:
    """Replies queued per device token (or hook name); anything unscripted succeeds."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.hold: asyncio.Event | None = None  # when set, requests wait for it before answering

    def script(self, token: str, *replies: Reply) -> None:
        self.replies.setdefault(token, []).extend(replies)

    def next_reply(self, token: str) -> Reply | None:
        queued = self.replies.get(token)
        return queued.pop(0) if queued else None

    def seen(self, token: str) -> list[Received]:
        return [r for r in self.received if r.token == token]

    def refuse(self, problems: list[str]) -> None:
        self.violations.extend(problems)


class FakeGoogle(Scripted):
    PROJECT = "hub-push-test"
    CLIENT_EMAIL = "push-sender@hub-push-test.iam.gserviceaccount.com"
    KEY_ID = "0123456789abcdef"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        super().__init__()
        self.key = key
        self.public_key = public_pem(key)
        self.token_requests = 0
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.expires_in = 3599
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account(self) -> dict[str, str]:
        """What Google's console hands out as the service-account key file."""
        return {
            "type": "service_account",
            "project_id": self.PROJECT,
            "private_key_id": self.KEY_ID,
            "private_key": private_pem(self.key),
            "client_email": self.CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        problems: list[str] = []
        if request.content_type != "application/x-www-form-urlencoded":
            problems.append(f"token: content type {request.content_type}")
        form = await request.post()
        if sorted(form) != ["assertion", "grant_type"]:
            problems.append(f"token: form fields {sorted(form)}")
        if form.get("grant_type") != JWT_BEARER:
            problems.append(f"token: grant_type {form.get('grant_type')!r}")
        assertion = str(form.get("assertion", ""))
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=self.CLIENT_EMAIL,
                options={"require": ["iss", "scope", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            problems.append(f"token: assertion refused: {exc!r}")
        else:
            if header.get("alg") != "RS256" or header.get("kid") != self.KEY_ID:
                problems.append(f"token: assertion header {header}")
            if sorted(claims) != ["aud", "exp", "iat", "iss", "scope"]:
                problems.append(f"token: claims {sorted(claims)}")
            if claims.get("scope") != FCM_SCOPE:
                problems.append(f"token: scope {claims.get('scope')!r}")
            if claims["exp"] - claims["iat"] != 3600 or abs(claims["iat"] - time.time()) > 60:
                problems.append(f"token: iat {claims['iat']} exp {claims['exp']}")
        if problems:
            self.refuse(problems)
            return web.json_response(
                {"error": "invalid_grant", "error_description": "; ".join(problems)}, status=400
            )
        token = f"ya29.fake-{self.token_requests}-{uuid.uuid4().hex}"
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    async def _send(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.issued or token in self.revoked:
            return _fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        problems: list[str] = []
        if request.match_info["project"] != self.PROJECT:
            problems.append(f"fcm: project {request.match_info['project']}")
        if request.content_type != "application/json":
            problems.append(f"fcm: content type {request.content_type}")
        body = await request.json()
        problems += fcm_message_problems(body)
        device_token = body.get("message", {}).get("token", "") if isinstance(body, dict) else ""
        if problems:
            self.refuse(problems)
            return _fcm_error(400, "INVALID_ARGUMENT", "; ".join(problems))
        self.received.append(Received(time.monotonic(), device_token, body, dict(request.headers)))
        if self.hold is not None:
            await self.hold.wait()
        reply = self.next_reply(device_token)
        if reply is not None:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return web.json_response({"name": f"projects/{self.PROJECT}/messages/{uuid.uuid4().hex}"})


def fcm_message_problems(body: Any) -> list[str]:
    """Shape of a v1 ``messages:send`` body, as projects.messages documents it."""
    if not isinstance(body, dict) or list(body) != ["message"]:
        return [f"fcm: body must be {{'message': ...}}, got {body!r}"]
    message = body["message"]
    problems = []
    unknown = set(message) - {"token", "notification", "data", "android", "apns"}
    if unknown:
        problems.append(f"fcm: unknown message fields {unknown}")
    if not isinstance(message.get("token"), str) or not message["token"]:
        problems.append("fcm: message.token missing")
    notification = message.get("notification", {})
    if set(notification) - {"title", "body"} or not all(isinstance(v, str) for v in notification.values()):
        problems.append(f"fcm: notification {notification!r}")
    data = message.get("data", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        problems.append(f"fcm: data values must be strings: {data!r}")
    if any(k in ("from", "message_type") or k.startswith(("google", "gcm")) for k in data):
        problems.append(f"fcm: reserved data key in {sorted(data)}")
    android = message.get("android", {})
    if android.get("priority", "normal") not in ("normal", "high"):
        problems.append(f"fcm: android.priority {android.get('priority')!r}")
    if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s", android["ttl"]):
        problems.append(f"fcm: android.ttl {android['ttl']!r}")
    apns_headers = message.get("apns", {}).get("headers", {})
    if apns_headers.get("apns-priority", "10") not in ("10", "5"):
        problems.append(f"fcm: apns-priority {apns_headers.get('apns-priority')!r}")
    return problems


def _fcm_error(status: int, code: str, message: str, error_code: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if error_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
        ]
    return web.json_response({"error": error}, status=status)


def fcm_error_reply(status: int, code: str, error_code: str | None = None, **headers: str) -> Reply:
    error: dict[str, Any] = {"code": status, "message": f"fake {code}", "status": code}
    if error_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
        ]
    return Reply(status, {"error": error}, headers)


class FakeApns(Scripted):
    TEAM_ID = "ABCDE12345"
    KEY_ID = "KEY987654Z"
    TOPIC = "com.example.hub.worker"
    TOPICS = frozenset({TOPIC, "com.example.hub.customer"})

    def __init__(self, key: ec.EllipticCurvePrivateKey, ca: trustme.CA, directory: Path) -> None:
        super().__init__()
        self.key = key
        self.public_key = public_pem(key)
        self.provider_tokens: list[str] = []  # distinct provider tokens, in order of first use
        self.http_versions: list[str] = []
        cert = ca.issue_cert("localhost", "127.0.0.1")
        self._certfile, self._keyfile = directory / "apns.crt", directory / "apns.key"
        cert.cert_chain_pems[0].write_to_path(str(self._certfile))
        cert.private_key_pem.write_to_path(str(self._keyfile))
        self.port = 0
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    async def start(self) -> None:
        # A socket already listening: connections queue in its backlog until hypercorn accepts,
        # so the first request needs no readiness probe.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        config = HypercornConfig()
        config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket from here
        config.certfile, config.keyfile = str(self._certfile), str(self._keyfile)
        config.alpn_protocols = ["h2", "http/1.1"]  # offer both: the app asserts what was used
        config.accesslog = None
        config.graceful_timeout = 1.0
        self._task = asyncio.create_task(serve(self._app, config, shutdown_trigger=self._shutdown.wait))  # type: ignore[arg-type]

    async def close(self) -> None:
        self._shutdown.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)

    async def _app(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, payload, headers = await self._handle(scope, body)
        response_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        data = b"" if payload is None else json.dumps(payload).encode()
        if data:
            response_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": data})

    async def _handle(self, scope: dict[str, Any], body: bytes) -> tuple[int, Any, dict[str, str]]:
        apns_id = str(uuid.uuid4()).upper()
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.http_versions.append(scope["http_version"])
        problems = []
        if scope["http_version"] != "2":
            problems.append(f"apns: HTTP/{scope['http_version']}, APNs only speaks HTTP/2")
        if scope["scheme"] != "https":
            problems.append(f"apns: scheme {scope['scheme']}")
        match = re.fullmatch(r"/3/device/([0-9a-f]{64})", scope["path"])
        if scope["method"] != "POST" or match is None:
            problems.append(f"apns: {scope['method']} {scope['path']}")
        device_token = match[1] if match else ""
        if problems:
            self.refuse(problems)
            return 405 if scope["method"] != "POST" else 400, {"reason": "BadPath"}, {"apns-id": apns_id}
        scheme, _, provider_token = headers.get("authorization", "").partition(" ")
        token_problem = self._token_problem(scheme, provider_token)
        if token_problem:
            self.refuse([token_problem])
            return 403, {"reason": "InvalidProviderToken"}, {"apns-id": apns_id}
        if headers.get("apns-topic") not in self.TOPICS:
            problems.append(f"apns: apns-topic {headers.get('apns-topic')!r}")
        if headers.get("apns-push-type") != "alert":
            problems.append(f"apns: apns-push-type {headers.get('apns-push-type')!r}")
        if headers.get("apns-priority") not in ("10", "5"):
            problems.append(f"apns: apns-priority {headers.get('apns-priority')!r}")
        expiration = headers.get("apns-expiration", "")
        if not expiration.isdigit() or int(expiration) <= time.time():
            problems.append(f"apns: apns-expiration {expiration!r}")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            problems.append("apns: apns-collapse-id longer than 64 bytes")
        if len(body) > 4096:
            problems.append(f"apns: payload of {len(body)} bytes")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        aps = payload.get("aps") if isinstance(payload, dict) else None
        if not isinstance(aps, dict) or set(aps.get("alert", {})) != {"title", "body"}:
            problems.append(f"apns: payload {payload!r}")
        elif aps.get("interruption-level", "active") not in (
            "passive",
            "active",
            "time-sensitive",
            "critical",
        ):
            problems.append(f"apns: interruption-level {aps.get('interruption-level')!r}")
        if problems:
            self.refuse(problems)
            return 400, {"reason": "BadRequest"}, {"apns-id": apns_id}
        self.received.append(Received(time.monotonic(), device_token, payload, headers))
        if self.hold is not None:
            await self.hold.wait()
        reply = self.next_reply(device_token)
        if reply is not None:
            return reply.status, reply.body, {"apns-id": apns_id, **reply.headers}
        return 200, None, {"apns-id": apns_id}

    def _token_problem(self, scheme: str, token: str) -> str | None:
        if scheme != "bearer":
            return f"apns: authorization scheme {scheme!r}"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token, self.public_key, algorithms=["ES256"], options={"require": ["iss", "iat"]}
            )
        except jwt.PyJWTError as exc:
            return f"apns: provider token refused: {exc!r}"
        if header != {"alg": "ES256", "kid": self.KEY_ID}:
            return f"apns: provider token header {header}"
        if sorted(claims) != ["iat", "iss"] or claims["iss"] != self.TEAM_ID:
            return f"apns: provider token claims {claims}"
        if not time.time() - 3600 < claims["iat"] <= time.time() + 60:
            return f"apns: provider token iat {claims['iat']} (ExpiredProviderToken)"
        if token not in self.provider_tokens:
            self.provider_tokens.append(token)
        return None


class FakeWebhook(Scripted):
    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        super().__init__()
        self.secret = secret.encode()
        app = web.Application()
        app.router.add_post("/hooks/{name}", self._hook)
        self.server = TestServer(app, host="127.0.0.1")

    def url(self, name: str) -> str:
        return str(self.server.make_url(f"/hooks/{name}"))

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        timestamp = request.headers.get("X-Hub-Timestamp", "")
        signature = request.headers.get("X-Hub-Signature", "")
        problems = []
        if request.content_type != "application/json":
            problems.append(f"webhook: content type {request.content_type}")
        # The receiver's side, as hub/push/providers/webhook.py documents it.
        expected = (
            "sha256=" + hmac.new(self.secret, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, signature):
            problems.append("webhook: bad signature")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            problems.append(f"webhook: stale timestamp {timestamp!r}")
        if problems:
            self.refuse(problems)
            return web.json_response({"error": "; ".join(problems)}, status=401)
        self.received.append(Received(time.monotonic(), name, json.loads(raw), dict(request.headers)))
        if self.hold is not None:
            await self.hold.wait()
        reply = self.next_reply(name)
        if reply is not None:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return web.Response(status=204)


@dataclass
class Fakes:
    google: FakeGoogle
    apns: FakeApns
    webhook: FakeWebhook
    ca: trustme.CA
    apns_key: ec.EllipticCurvePrivateKey

    def env(self) -> dict[str, str]:
        """``HUB_*`` push variables pointing at the fakes."""
        return {
            "HUB_FCM_SERVICE_ACCOUNT": json.dumps(self.google.service_account()),
            "HUB_FCM_ENDPOINT": self.google.url,
            "HUB_APNS_KEY": private_pem(self.apns_key),
            "HUB_APNS_KEY_ID": FakeApns.KEY_ID,
            "HUB_APNS_TEAM_ID": FakeApns.TEAM_ID,
            "HUB_APNS_TOPIC": FakeApns.TOPIC,
            "HUB_APNS_ENDPOINT": self.apns.url,
            "HUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "HUB_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        }

    def config(self, **env: str) -> PushConfig:
        return PushConfig.from_env({**self.env(), **env})

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    @property
    def violations(self) -> list[str]:
        return self.google.violations + self.apns.violations + self.webhook.violations


@contextlib.asynccontextmanager
async def running_fakes(directory: Path) -> AsyncIterator[Fakes]:
    ca, apns_key = trustme.CA(), new_ec_key()
    fakes = Fakes(
        google=FakeGoogle(new_rsa_key()),
        apns=FakeApns(apns_key, ca, directory),
        webhook=FakeWebhook(),
        ca=ca,
        apns_key=apns_key,
    )
    await fakes.google.server.start_server()
    try:
        await fakes.webhook.server.start_server()
        try:
            await fakes.apns.start()
            try:
                yield fakes
            finally:
                for scripted in (fakes.google, fakes.apns, fakes.webhook):
                    if scripted.hold is not None:
                        scripted.hold.set()
                await fakes.apns.close()
        finally:
            await fakes.webhook.server.close()
    finally:
        await fakes.google.server.close()


# Credentials in the providers' own formats, for configuring a hub under test.
EC_PEM = private_pem(new_ec_key())  # an APNs .p8 key
RSA_PEM = private_pem(new_rsa_key())
ACCOUNT = {  # an FCM service account file
    "type": "service_account",
    "project_id": "p-1",
    "private_key_id": "abc",
    "private_key": RSA_PEM,
    "client_email": "sender@p-1.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}
