"""Attachment uploads: size and type limits, with the type checked against the file's own bytes.

The declared Content-Type is never trusted on its own: a file must start with the signature of
the type it claims, so a script cannot be uploaded as "image/png" and served back as one.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import groupby

from hub.errors import InvalidPayload, RateLimited

MAX_FILENAME = 255  # characters, as most file systems allow
MAX_EXTENSION = 16  # longer "extensions" are part of the name when a name is shortened
# Characters a name must not carry into storage, a header or a save dialog: controls (line
# breaks end a header), unpaired surrogates (a header's bytes that were not UTF-8), invisible
# format characters (a right-to-left override makes "gpj.exe" read as "exe.jpg"), line and
# paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})

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


def check(content_type: str, content: bytes | bytearray, max_bytes: int) -> str:
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
    if not SIGNATURES[mime](bytes(content[:16])):
        raise InvalidPayload(f"the file's content is not {mime}", code="upload_type_mismatch")
    return mime


def clean_filename(raw: str | None) -> str | None:
    """The name an upload is stored under: each run of unsafe characters becomes one ``_``, only
    the last part of a path is kept, and a long name is shortened, keeping its extension.
    None when nothing is left."""
    if raw is None:
        return None
    safe = "".join("_" if unsafe else "".join(run) for unsafe, run in groupby(raw, key=_unsafe))
    name = safe.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", ".."):
        return None
    return _shortened(name)


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _shortened(name: str) -> str:
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= MAX_EXTENSION:
        return stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
    return name[:MAX_FILENAME]


QUOTA_WINDOW_SECONDS = 24 * 3600


class UploadGate:
    """What one person may upload: ``concurrency`` files in flight at once on this node (a file is
    held in memory while it arrives), and ``quota`` bytes in a rolling day. Twenty parallel 10 MB
    uploads of one user once stored 199 MB and slowed everyone else's pings to 920 ms."""

    def __init__(self, quota: int, concurrency: int) -> None:
        self.quota = quota
        self.concurrency = concurrency
        self._in_flight: Counter[tuple[str, str]] = Counter()

    @contextlib.contextmanager
    def slot(self, who: tuple[str, str]) -> Iterator[None]:
        """Hold one of the person's slots while the upload arrives and is stored."""
        if self._in_flight[who] >= self.concurrency:
            raise RateLimited(
                f"at most {self.concurrency} uploads at a time",
                code="uploads_in_flight",
                details={"retry_after_ms": 1000},
            )
        self._in_flight[who] += 1
        try:
            yield
        finally:
            self._in_flight[who] -= 1
            if self._in_flight[who] <= 0:
                del self._in_flight[who]

    def check_quota(self, used: int, incoming: int) -> None:
        """Refuse an upload that would take the person past their daily quota."""
        if used + incoming > self.quota:
            raise RateLimited(
                f"the daily upload quota of {self.quota} bytes is used up",
                code="upload_quota_exceeded",
                details={"quota_bytes": self.quota, "used_bytes": used},
            )
