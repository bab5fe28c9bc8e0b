"""In-process token buckets: per conversation for syncs and messages, per client IP for
failed token checks and for new conversations.

Who may spend what (CONTRACT §6), so that a stranger cannot silence a visitor:
- a conversation's sync and message buckets are spent only after the request's token
  verified; a tokenless message accepted during the rollout spends a bucket of its own
  (before any mint), so leaked id + visitorId pairs cannot exhaust the holder's, and a
  sync that bootstrap answers with a new token (once per conversation) is never refused;
- the per-address failure bucket is spent by failed checks (401 token_required, 403) and
  turns further *failures* from that address into 429; a request whose token verifies is
  never refused by it (visitors behind one NAT or proxy);
- a new conversation spends its address's creation bucket before any database work.
A 429 on a conversation therefore answers only a caller who proved the right to it. Buckets
live in the worker's memory: with several workers or instances each keeps its own, so the
effective limit is the configured one times the number of processes (see README).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from toolkit.config import Network, Rate
from toolkit.errors import RateLimited
from toolkit.protocol import RETRY_AFTER

__all__ = ["Limiter", "TokenBuckets", "client_ip"]


class TokenBuckets:
    """One bucket per key; the least recently used are forgotten past `max_keys`."""

    def __init__(
        self, rate: Rate, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = float(rate.requests)
        self._refill = rate.requests / rate.seconds
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, key: str) -> float:
        """Seconds until one request is allowed (0 when it is allowed now); takes nothing."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self._refill

    def take(self, key: str) -> float:
        """Spend one request if allowed; else return the seconds to wait."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            return (1 - tokens) / self._refill
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return 0.0

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - stamp) * self._refill)


class Limiter:
    """The four limits of the functions, each raising RateLimited (429 + Retry-After)."""

    def __init__(self, sync: Rate, message: Rate, failures: Rate, creations: Rate) -> None:
        self._sync = TokenBuckets(sync)
        self._message = TokenBuckets(message)
        self._failures = TokenBuckets(failures)
        self._creations = TokenBuckets(creations)

    def new_conversation(self, ip: str) -> None:
        """Before creating a conversation for the caller at `ip`."""
        _check(self._creations.take(ip), "too many new conversations from this address")

    def sync(self, conversation_id: str) -> None:
        """After the sync's token verified, before answering."""
        _check(self._sync.take(conversation_id), "too many syncs for this conversation")

    def message(self, conversation_id: str, *, verified: bool) -> None:
        """After the message's token check, before anything is stored; `verified=False` for
        a message the rollout accepts without a token, which spends a bucket of its own."""
        key = conversation_id if verified else f"tokenless:{conversation_id}"
        _check(self._message.take(key), "too many messages for this conversation")

    def failed(self, ip: str) -> None:
        """Count a failed token check (401/403) against the caller's address; once the
        address is over its limit, the failure is answered 429 instead."""
        _check(self._failures.take(ip), "too many failed token checks from this address")


def _check(wait: float, reason: str) -> None:
    if wait > 0:
        raise RateLimited(reason, headers={RETRY_AFTER: str(max(1, math.ceil(wait)))})


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The caller's address: X-Forwarded-For is believed only as far as trusted proxies go."""
    address = peer or "unknown"
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    while _is_trusted(address, trusted) and hops:
        address = hops.pop()
    return address


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
