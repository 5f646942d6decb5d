"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

import socketio
from aiohttp import web

from hub.auth import TokenVerifier
from hub.bus import Bus
from hub.chat.uploads import UploadGate
from hub.context import HubContext
from hub.metrics import Metrics
from hub.outbox import Relay
from hub.push.config import PushConfig
from hub.push.sender import PushSender
from hub.settings import Settings
from hub.storage.db import Database

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
VERIFIER = web.AppKey("verifier", TokenVerifier)
BUS = web.AppKey("bus", Bus)
DATABASE = web.AppKey("database", Database)
RELAY = web.AppKey("relay", Relay)
SIO = web.AppKey("sio", socketio.AsyncServer)
CONTEXT = web.AppKey("context", HubContext)
# What the HTTP handlers and the sender read the push configuration from.
PUSH_CONFIG = web.AppKey("push_config", PushConfig)
PUSH_SENDER = web.AppKey("push_sender", PushSender)
UPLOAD_GATE = web.AppKey("upload_gate", UploadGate)
