"""Token buckets for rate limits per socket and per person (chat, typing, everything else)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens added per second
    burst: float  # bucket size


class TokenBucket:
    __slots__ = ("_limit", "_tokens", "_updated")

    def __init__(self, limit: Limit) -> None:
        self._limit = limit
        self._tokens = limit.burst
        self._updated = time.monotonic()

    def take(self) -> float:
        """Spend one token: 0.0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self._limit.burst, self._tokens + (now - self._updated) * self._limit.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._limit.rate

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled to its burst by ``now``: then it is the same as a new one."""
        return self._tokens + (now - self._updated) * self._limit.rate >= self._limit.burst


# Defaults sized for people typing on phones; a script hammering the hub hits them at once.
LIMITS = {
    "chat": Limit(rate=5.0, burst=20.0),
    "typing": Limit(rate=3.0, burst=10.0),
    "default": Limit(rate=20.0, burst=60.0),
}
# One person's sockets together (on one namespace of one node) get this many times one socket's
# budget: a phone and a tablet are fine, a hundred sockets of one token are not a hundred budgets.
USER_SHARE = 2.0
USER_LIMITS = {
    name: Limit(limit.rate * USER_SHARE, limit.burst * USER_SHARE) for name, limit in LIMITS.items()
}
# Refused events a socket may accumulate (refilled at 1/s) before it is disconnected as abusive.
ABUSE = Limit(rate=1.0, burst=50.0)


CONNECT_BURST_SECONDS = 3.0  # a connect rate allows bursts of this many seconds' worth, at least one


def connect_limit(per_second: float) -> Limit:
    return Limit(rate=per_second, burst=max(1.0, CONNECT_BURST_SECONDS * per_second))


class RateTable:
    """One token bucket per key (an address, a person). A bucket that has refilled is the same as
    none, so it is forgotten: the table holds only the keys seen in the last few seconds (a
    burst's worth of refill), however many come and go. At most ``size`` keys besides: the least
    recently seen are forgotten first, so a flood of new keys costs bounded memory (and a
    forgotten key only starts again with a full bucket)."""

    def __init__(self, limit: Limit, size: int = 50_000) -> None:
        self._limit = limit
        self._size = size
        self._buckets: OrderedDict[object, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: object) -> float:
        """Spend one of ``key``'s tokens: 0.0 if allowed, else the seconds until one is."""
        self._forget_refilled(time.monotonic())
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._limit)
            if len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()

    def _forget_refilled(self, now: float) -> None:
        # Least recently taken first: each bucket is dropped once, so this costs O(1) a take on
        # average. A bucket taken later than a full one may have refilled too; it goes when it
        # reaches the front.
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if not oldest.full(now):
                return
            del self._buckets[key]
