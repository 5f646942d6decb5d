"""Offline delivery of notifications to phones and webhooks.

- ``config``: ``HUB_FCM_*``, ``HUB_APNS_*``, ``HUB_WEBHOOK_SECRET`` and ``HUB_PUSH_*`` variables.
- ``devices``: push tokens registered by users (``POST/GET/DELETE /api/v1/devices``).
- ``preferences``: per-kind channels and quiet hours (``/api/v1/notification-preferences``).
- ``queue``: ``queue_push``, called in the notifier's transaction, writes one delivery per device.
- ``sender``: ``PushSender`` claims due deliveries and sends them through ``providers``
  (FCM HTTP v1, APNs over HTTP/2, signed webhooks), retrying transient failures.
Its HTTP routes are in ``hub.web.push``.

Import the push submodules directly (``from hub.push.queue import queue_push``): importing the
queue or the preferences then does not pull in the providers' HTTP clients.
"""
