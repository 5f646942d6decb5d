"""Text as search sees it: normalised, cut into tokens (runs of Chinese characters, words of
letters or digits), and Chinese turned into pinyin with ``pypinyin``.

Chinese is not cut into words: a run of Chinese characters is matched by containment either way
(a catalog term inside the query, the query inside a catalog text), which finds 照顾小孩 inside
我想找人照顾小孩 without a tokenizer or its dictionary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from pypinyin import Style, lazy_pinyin

# CJK Unified Ideographs, Extension A and the compatibility block: what pypinyin can read.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_HAN}]+|[a-z0-9]+")
_HAN_RUN = re.compile(f"^[{_HAN}]+$")
_SPACES = re.compile(r"\s+")

# English words that say nothing about the service wanted ("I need someone to look after my
# child"): dropped from queries, or they would match descriptions and demand to be found.
# fmt: off
STOP_WORDS = frozenset((
    "a", "an", "the", "i", "im", "me", "my", "we", "our", "us", "you", "your", "need", "needs",
    "want", "wants", "looking", "look", "after", "for", "to", "find", "someone", "somebody", "some",
    "please", "who", "can", "could", "would", "help", "with", "of", "and", "or", "in", "at", "on",
    "by", "is", "are", "be", "get", "have", "has", "do", "does", "service", "services", "hire",
    "book", "booking",
))
# fmt: on


def normalise(text: str) -> str:
    """NFKC (full-width letters and punctuation become plain), case-folded, single spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def tokens(text: str) -> list[str]:
    """Runs of Chinese characters and words of ASCII letters or digits, in order; the rest
    (punctuation, other scripts) separates them."""
    return _TOKEN.findall(normalise(text))


def is_han(token: str) -> bool:
    return bool(_HAN_RUN.match(token))


def syllables(han: str) -> list[str]:
    """The toneless pinyin of a run of Chinese characters, one syllable per character (ü as v,
    as people type it), the reading chosen by pypinyin's phrase dictionary."""
    return lazy_pinyin(han, style=Style.NORMAL)


def initials(han: str) -> str:
    """The first letter of each syllable: 月嫂 -> "ys"."""
    return "".join(lazy_pinyin(han, style=Style.FIRST_LETTER))


def windows(parts: list[str], shortest: int = 2) -> Iterator[tuple[int, int]]:
    """Every contiguous span [i, j) of at least ``shortest`` parts (or the whole, if shorter)."""
    if len(parts) < shortest:
        if parts:
            yield 0, len(parts)
        return
    for i in range(len(parts)):
        for j in range(i + shortest, len(parts) + 1):
            yield i, j
