"""The search index of one catalog version, held in memory, and how a query is matched against it.

Every service is described by entries: its names, its category's names, the synonyms of the
service and of its category, its keywords and its descriptions. A query is cut into tokens
(``bookings.search.text``); each token is matched against the entries in these ways, best first:

========== ===== =============================================================================
by         score how
========== ===== =============================================================================
name       100   the token is in the service's name, or (Chinese) the name is in the token
category   90    the same with its category's name
synonym    80    a synonym of the service (of its category: 78); an English token may be the
                 start of a word of it ("babys" finds "babysitter")
keyword    70    one of the service's own keywords
description 50   a word of a description (English) or a part of one (Chinese, two characters
                 or more)
pinyin     40+   full pinyin or initials of a name, synonym or keyword ("yuesao", "ys",
                 "zhaogu xiaohai"), or a Chinese token that sounds like one (越嫂 -> 月嫂)
fuzzy      20+   only for a token nothing else found: one typo (two in words of 7 letters or
                 more) from an English word, or one character from a Chinese term of 4 or more
========== ===== =============================================================================

An exact match of the whole term adds 5. A service's score for a token is its best match; a
token that matches no service at all is left out (the extra words of 我想找人照顾小孩, a typo
nothing resembles). Services that match every remaining token are the result, by their summed
score; if none matches them all, the services matching any, by how many tokens they match.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from rapidfuzz import process
from rapidfuzz.distance import OSA, Hamming

from bookings.search import text
from bookings.storage.catalog import ServiceRecord

By = Literal["name", "category", "synonym", "keyword", "description", "pinyin", "fuzzy"]

SCORES: Mapping[By, int] = {
    "name": 100,
    "category": 90,
    "synonym": 80,
    "keyword": 70,
    "description": 50,
    "pinyin": 40,
    "fuzzy": 20,
}
CATEGORY_SYNONYM = 78  # a synonym of the whole category is a little less specific
EXACT_BONUS = 5  # the token is the whole term
MAX_TOKENS = 12
PREFIX_MIN = 3  # an English token this long may be the start of a word
PINYIN_PREFIX_MIN = 4  # and a pinyin one the start of a term's pinyin
INITIALS = (2, 6)  # initials are matched for tokens of these lengths
FUZZY_MIN = 4  # shorter tokens have too many neighbours
HAN_FUZZY_MIN = 4  # 洗衣机 and 洗碗机 are one character apart


@dataclasses.dataclass(frozen=True, slots=True)
class Synonym:
    term: str
    service_id: str | None
    category_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One text that describes a service."""

    service_id: str
    by: By
    term: str  # normalised
    score: int


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    by: By
    term: str  # the catalog's term (the word it was taken for, when fuzzy)
    query: str  # the part of the query that matched
    score: int


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    service: ServiceRecord
    matched: Match  # its best match
    score: int  # summed over the tokens it matches
    tokens: int  # how many tokens it matches


Hits = dict[str, Match]  # a token's best match per service
Sounds = tuple[str, Entry]  # a term's Chinese run (or English word) and its entry


def _credit(hits: Hits, service_id: str, match: Match) -> None:
    """Keep the better match; of two as good, the one that used more of the query."""
    best = hits.get(service_id)
    if best is None or (match.score, len(match.query)) > (best.score, len(best.query)):
        hits[service_id] = match


class SearchIndex:
    """Immutable once built; a new catalog version builds a new one."""

    def __init__(
        self,
        version: int,
        services: Sequence[ServiceRecord],
        categories: Mapping[str, tuple[str, str]],
        synonyms: Iterable[Synonym],
    ) -> None:
        self.version = version
        self.services = {s.id: s for s in services}
        self._order = {s.id: n for n, s in enumerate(services)}
        self._words: dict[str, list[Entry]] = {}
        self._han_texts: list[Entry] = []
        self._han_runs: list[tuple[str, Entry]] = []
        # Pinyin of the Chinese runs of names, synonyms and keywords -> (the run, its entry).
        self._pinyin: dict[str, list[Sounds]] = {}  # whole runs and their spans of 2+ syllables
        self._pinyin_whole: dict[str, list[Sounds]] = {}
        self._initials: dict[str, list[Sounds]] = {}
        self._fuzzy: dict[str, list[Sounds]] = {}  # English words (the word itself), whole pinyin
        self._phrases: dict[str, list[Entry]] = {}  # terms of several English words
        for entry in _entries(services, categories, synonyms):
            self._add(entry)
        self._word_keys = sorted(self._words)
        self._pinyin_keys = sorted(self._pinyin)
        self._fuzzy_keys = list(self._fuzzy)

    def _add(self, entry: Entry) -> None:
        parts = text.tokens(entry.term)
        described = entry.by == "description"
        if not described and len(parts) > 1 and not any(text.is_han(p) for p in parts):
            self._phrases.setdefault(" ".join(parts), []).append(entry)
        if any(text.is_han(p) for p in parts):
            self._han_texts.append(entry)
        for part in parts:
            if not text.is_han(part):
                self._words.setdefault(part, []).append(entry)
                if not described and len(part) >= PREFIX_MIN and part not in text.STOP_WORDS:
                    self._fuzzy.setdefault(part, []).append((part, entry))
                continue
            if described or len(part) < 2:
                continue  # descriptions are searched as text; one character says too little
            self._han_runs.append((part, entry))
            sounds = text.syllables(part)
            whole = "".join(sounds)
            self._pinyin_whole.setdefault(whole, []).append((part, entry))
            self._fuzzy.setdefault(whole, []).append((part, entry))
            self._initials.setdefault(text.initials(part), []).append((part, entry))
            for i, j in text.windows(sounds):
                self._pinyin.setdefault("".join(sounds[i:j]), []).append((part, entry))

    # Matching ----------------------------------------------------------------------------------

    def search(self, query: str) -> list[Hit]:
        """Services matching ``query``, best first (see the module's docstring)."""
        tokens = text.tokens(query)[:MAX_TOKENS]
        per_token: list[Hits] = [{} for _ in tokens]
        for hits, token in zip(per_token, tokens, strict=True):
            if text.is_han(token):
                self._han(token, hits)
            elif token not in text.STOP_WORDS and len(token) > 1:
                self._latin(token, hits)
        self._runs(tokens, per_token)
        for hits, token in zip(per_token, tokens, strict=True):
            if not hits and token not in text.STOP_WORDS:
                self._fuzzy_match(token, hits)
        return self._rank([hits for hits in per_token if hits])

    def _latin(self, token: str, hits: Hits) -> None:
        for word in self._starting_with(self._word_keys, token, PREFIX_MIN):
            for entry in self._words[word]:
                exact = EXACT_BONUS if entry.term == token else 0
                term = word if entry.by == "description" else entry.term  # not a whole description
                _credit(hits, entry.service_id, Match(entry.by, term, token, entry.score + exact))
        for key in self._starting_with(self._pinyin_keys, token, PINYIN_PREFIX_MIN):
            self._sounds_like(self._pinyin[key], token, hits)
        if INITIALS[0] <= len(token) <= INITIALS[1]:
            self._sounds_like(self._initials.get(token, ()), token, hits)

    def _han(self, token: str, hits: Hits) -> None:
        for entry in self._han_texts:
            if len(token) < 2 and entry.by == "description":
                continue  # one character (的, 和) is in every description
            if token in entry.term:
                exact = EXACT_BONUS if entry.term == token else 0
                term = token if entry.by == "description" else entry.term
                _credit(hits, entry.service_id, Match(entry.by, term, token, entry.score + exact))
        for run, entry in self._han_runs:
            if run in token:
                _credit(hits, entry.service_id, Match(entry.by, entry.term, run, entry.score))
        # Homophones, as a pinyin keyboard's wrong pick makes them: 越嫂 sounds like 月嫂.
        sounds = text.syllables(token)
        for i, j in text.windows(sounds):
            found = self._pinyin_whole.get("".join(sounds[i:j]))
            if found:
                self._sounds_like(found, token[i:j], hits)

    def _runs(self, tokens: list[str], per_token: list[Hits]) -> None:
        """Adjacent tokens that together are a term all match it: the words of a phrase
        ("newborn care"), or pinyin typed syllable by syllable ("zhao gu xiao hai")."""
        for i in range(len(tokens)):
            for j in range(i + 1, len(tokens) + 1):
                if text.is_han(tokens[j - 1]):
                    break
                if j - i < 2:
                    continue
                phrase = " ".join(tokens[i:j])
                for entry in self._phrases.get(phrase, ()):
                    match = Match(entry.by, entry.term, phrase, entry.score + EXACT_BONUS)
                    for hits in per_token[i:j]:
                        _credit(hits, entry.service_id, match)
                found = self._pinyin.get("".join(tokens[i:j]))
                if found:
                    for hits in per_token[i:j]:
                        self._sounds_like(found, phrase, hits)

    def _sounds_like(self, found: Iterable[Sounds], query: str, hits: Hits) -> None:
        for run, entry in found:
            # The band is the pinyin's; within it, a name's pinyin before a keyword's.
            score = SCORES["pinyin"] + entry.score // 20
            _credit(hits, entry.service_id, Match("pinyin", run, query, score))

    def _fuzzy_match(self, token: str, hits: Hits) -> None:
        if text.is_han(token):
            self._han_fuzzy(token, hits)
            return
        if len(token) < FUZZY_MIN:
            return
        allowed = 1 if len(token) < 7 else 2
        near = process.extract(token, self._fuzzy_keys, scorer=OSA.distance, score_cutoff=allowed, limit=None)
        if not near:
            return
        closest = min(distance for _, distance, _ in near)
        for word, distance, _ in near:
            if distance == closest:
                for term, entry in self._fuzzy[word]:
                    score = SCORES["fuzzy"] + entry.score // 20
                    _credit(hits, entry.service_id, Match("fuzzy", term, token, score))

    def _han_fuzzy(self, token: str, hits: Hits) -> None:
        for run, entry in self._han_runs:
            size = len(run)
            if size < HAN_FUZZY_MIN or len(token) < size:
                continue
            for start in range(len(token) - size + 1):
                if Hamming.distance(token[start : start + size], run, score_cutoff=1) <= 1:
                    score = SCORES["fuzzy"] + entry.score // 20
                    _credit(
                        hits, entry.service_id, Match("fuzzy", entry.term, token[start : start + size], score)
                    )
                    break

    @staticmethod
    def _starting_with(keys: list[str], token: str, prefix_min: int) -> list[str]:
        """``token`` itself if it is a key, and the keys it starts when it is long enough."""
        start = bisect.bisect_left(keys, token)
        if len(token) < prefix_min:
            return keys[start : start + 1] if keys[start : start + 1] == [token] else []
        found = []
        for key in keys[start:]:
            if not key.startswith(token):
                break
            found.append(key)
        return found

    def _rank(self, per_token: list[Hits]) -> list[Hit]:
        found: dict[str, list[Match]] = {}
        for hits in per_token:
            for service_id, match in hits.items():
                found.setdefault(service_id, []).append(match)
        every = [sid for sid, matches in found.items() if len(matches) == len(per_token)]
        chosen = every or list(found)
        ranked = [
            Hit(
                service=self.services[sid],
                matched=max(found[sid], key=lambda m: m.score),
                score=sum(m.score for m in found[sid]),
                tokens=len(found[sid]),
            )
            for sid in chosen
        ]
        ranked.sort(key=lambda hit: (-hit.tokens, -hit.score, self._order[hit.service.id]))
        return ranked


def _entries(
    services: Sequence[ServiceRecord],
    categories: Mapping[str, tuple[str, str]],
    synonyms: Iterable[Synonym],
) -> Iterable[Entry]:
    by_service: dict[str, list[str]] = {}
    by_category: dict[str, list[str]] = {}
    for synonym in synonyms:
        if synonym.service_id is not None:
            by_service.setdefault(synonym.service_id, []).append(synonym.term)
        elif synonym.category_id is not None:
            by_category.setdefault(synonym.category_id, []).append(synonym.term)
    for s in services:
        texts: list[tuple[By, str, int]] = [
            ("name", s.name_en, SCORES["name"]),
            ("name", s.name_zh, SCORES["name"]),
            *(("category", name, SCORES["category"]) for name in categories.get(s.category_id, ())),
            *(("synonym", term, SCORES["synonym"]) for term in by_service.get(s.id, ())),
            *(("synonym", term, CATEGORY_SYNONYM) for term in by_category.get(s.category_id, ())),
            *(("keyword", word, SCORES["keyword"]) for word in s.keywords.split()),
            ("description", s.description_en, SCORES["description"]),
            ("description", s.description_zh, SCORES["description"]),
        ]
        for by, raw, score in texts:
            term = text.normalise(raw)
            if term:
                yield Entry(s.id, by, term, score)
