"""Attachment uploads: size and type limits, with the type checked against the file's own bytes.

The declared Content-Type is never trusted on its own: a file must start with the signature of
the type it claims, so a script cannot be uploaded as "image/png" and served back as one.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.errors import InvalidPayload

# MIME type → predicate on the first bytes of the file.
SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda b: b.startswith((b"GIF87a", b"GIF89a")),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "application/pdf": lambda b: b.startswith(b"%PDF-"),
    "video/mp4": lambda b: b[4:8] == b"ftyp",
    "audio/mp4": lambda b: b[4:8] == b"ftyp",
    "audio/mpeg": lambda b: b.startswith((b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")),
    "audio/amr": lambda b: b.startswith(b"#!AMR"),
}
ALLOWED_TYPES = frozenset(SIGNATURES)


def check(content_type: str, content: bytes, max_bytes: int) -> str:
    """Return the normalised MIME type, or raise ``InvalidPayload`` with a precise code."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if not content:
        raise InvalidPayload("the file is empty", code="upload_empty")
    if len(content) > max_bytes:
        raise InvalidPayload(f"the file is larger than {max_bytes} bytes", code="upload_too_large")
    if mime not in SIGNATURES:
        raise InvalidPayload(
            f"{mime or 'this type'} is not accepted; allowed: {', '.join(sorted(ALLOWED_TYPES))}",
            code="upload_type_not_allowed",
        )
    if not SIGNATURES[mime](content[:16]):
        raise InvalidPayload(f"the file's content is not {mime}", code="upload_type_mismatch")
    return mime
