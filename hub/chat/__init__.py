"""Chat: support and booking conversations, messages with per-conversation sequence numbers,
receipts, history and the support queue. Plain domain code: no Socket.IO, no aiohttp."""
