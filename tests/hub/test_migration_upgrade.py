"""A database the previous release migrated (core migrations 0001-0004), with people's data in it,
takes the later migrations and keeps what was theirs, now under (role, id)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg

from hub.storage.migrate import MIGRATIONS_DIR, load_migrations, migrate, pending

PREVIOUS_RELEASE = ("0001", "0002", "0003", "0004")


async def test_the_previous_releases_data_survives_the_upgrade(
    empty_database_url: str, tmp_path: Path
) -> None:
    for sql in MIGRATIONS_DIR.glob("*.sql"):
        if sql.name[:4] in PREVIOUS_RELEASE:
            shutil.copy(sql, tmp_path / sql.name)
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await migrate(conn, tmp_path) == list(PREVIOUS_RELEASE)
        conversation, upload, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        # A support conversation of c-1 held by agent a-1, a message attaching c-1's upload,
        # c-1's notifications and counter, a worker's device and preferences.
        await conn.execute(
            """INSERT INTO conversations (id, kind, customer_id, status, assigned_agent_id, last_seq)
               VALUES ($1, 'support', 'c-1', 'assigned', 'a-1', 1)""",
            conversation,
        )
        await conn.executemany(
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, $3)",
            [(conversation, "c-1", "customer"), (conversation, "a-1", "support")],
        )
        await conn.execute(
            """INSERT INTO uploads (id, owner_id, content_type, size, sha256, content)
               VALUES ($1, 'c-1', 'image/png', 3, 'x', '\\x010203')""",
            upload,
        )
        await conn.execute(
            """INSERT INTO messages (id, conversation_id, seq, sender_id, sender_role, client_id, kind,
                                     body, attachments)
               VALUES ($1, $2, 1, 'c-1', 'customer', 'm1', 'text', 'see photo', $3::jsonb)""",
            uuid.uuid4(),
            conversation,
            f'[{{"upload_id": "{upload}"}}]',
        )
        await conn.execute("INSERT INTO notification_counters (user_id, last_seq) VALUES ('c-1', 7)")
        await conn.execute(
            """INSERT INTO notifications (user_id, seq, id, role, kind, title, body)
               VALUES ('c-1', 7, $1, 'customer', 'chat.message', 'New message', 'see photo')""",
            uuid.uuid4(),
        )
        await conn.execute(
            """INSERT INTO notifications (user_id, seq, id, role, kind, title, body)
               VALUES ('w-1', 1, $1, 'worker', 'offer', 'A job', 'nearby')""",
            uuid.uuid4(),
        )
        await conn.execute("INSERT INTO notification_counters (user_id, last_seq) VALUES ('w-1', 1)")
        await conn.execute(
            "INSERT INTO push_devices (id, user_id, platform, token) VALUES ($1, 'w-1', 'fcm', 'tok-1')",
            device,
        )
        await conn.execute(
            "INSERT INTO push_preferences (user_id, kind, in_app, push) VALUES ('w-1', 'offer', true, true)"
        )

        later = [m.version for m in load_migrations() if m.version not in PREVIOUS_RELEASE]
        assert await migrate(conn) == later
        assert await pending(conn) == []

        assert (
            await conn.fetchval("SELECT assigned_agent_role FROM conversations WHERE id = $1", conversation)
            == "support"
        )
        members = await conn.fetch(
            "SELECT user_id, role FROM conversation_members WHERE conversation_id = $1 ORDER BY role",
            conversation,
        )
        assert [(m["user_id"], m["role"]) for m in members] == [("c-1", "customer"), ("a-1", "support")]
        assert await conn.fetchval("SELECT owner_role FROM uploads WHERE id = $1", upload) == "customer"
        counters = {
            (r["user_id"], r["role"]): r["last_seq"]
            for r in await conn.fetch("SELECT user_id, role, last_seq FROM notification_counters")
        }
        assert counters == {("c-1", "customer"): 7, ("w-1", "worker"): 1}  # seqs clients hold stay valid
        assert await conn.fetchval("SELECT role FROM push_devices WHERE id = $1", device) == "worker"
        preferences = await conn.fetch("SELECT role, kind FROM push_preferences WHERE user_id = 'w-1'")
        assert [(p["role"], p["kind"]) for p in preferences] == [("worker", "offer")]
        assert await conn.fetchval("SELECT count(*) FROM presence_choices") == 0
    finally:
        await conn.close()
