"""Token buckets and client-address resolution (pure, with an injected clock)."""

from __future__ import annotations

import ipaddress

import pytest

from toolkit.config import Rate
from toolkit.errors import RateLimited
from toolkit.functions.ratelimit import Limiter, TokenBuckets, client_ip

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_asks_to_wait() -> None:
    """3/60: three requests pass at once, the fourth must wait 20 s (one refill)."""
    clock = Clock()
    buckets = TokenBuckets(Rate(3, 60), clock=clock)
    assert [buckets.take("c") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("c") == pytest.approx(20.0)


def test_bucket_refills_over_time_and_keys_are_independent() -> None:
    """After 20 s one more request passes; another key has its own full bucket."""
    clock = Clock()
    buckets = TokenBuckets(Rate(3, 60), clock=clock)
    for _ in range(3):
        buckets.take("a")
    clock.now += 20
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_wait_does_not_spend() -> None:
    """wait() reports without taking: a full bucket stays full."""
    buckets = TokenBuckets(Rate(1, 60), clock=Clock())
    assert buckets.wait("k") == 0.0
    assert buckets.wait("k") == 0.0
    assert buckets.take("k") == 0.0
    assert buckets.wait("k") == pytest.approx(60.0)


def test_least_recently_used_keys_are_forgotten() -> None:
    """Past max_keys the oldest bucket is dropped (it starts full again)."""
    buckets = TokenBuckets(Rate(1, 60), max_keys=2, clock=Clock())
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert buckets.take("a") == 0.0
    assert buckets.take("c") > 0


def test_limiter_raises_429_with_retry_after() -> None:
    """Over the per-conversation sync limit: RateLimited, status 429, Retry-After in seconds."""
    limiter = Limiter(Rate(1, 10), Rate(1, 10), Rate(1, 10), Rate(1, 10))
    limiter.sync("conv")
    with pytest.raises(RateLimited) as caught:
        limiter.sync("conv")
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] in {"9", "10"}


def test_failures_are_refused_only_as_failures() -> None:
    """Past its failure budget an address's next failure is 429; the address's verified
    requests and another address's failures are untouched."""
    limiter = Limiter(Rate(100, 10), Rate(100, 10), Rate(2, 60), Rate(100, 10))
    limiter.failed("6.6.6.6")
    limiter.failed("6.6.6.6")
    with pytest.raises(RateLimited):
        limiter.failed("6.6.6.6")
    limiter.sync("any-conversation")
    limiter.message("any-conversation", verified=True)
    limiter.failed("7.7.7.7")


def test_tokenless_messages_spend_their_own_bucket() -> None:
    """Messages accepted without a token cannot exhaust the token holder's bucket."""
    limiter = Limiter(Rate(100, 10), Rate(2, 60), Rate(100, 10), Rate(100, 10))
    limiter.message("conv", verified=False)
    limiter.message("conv", verified=False)
    with pytest.raises(RateLimited):
        limiter.message("conv", verified=False)
    limiter.message("conv", verified=True)
    limiter.message("conv", verified=True)
    with pytest.raises(RateLimited):
        limiter.message("conv", verified=True)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "203.0.113.9, 127.0.0.1", "203.0.113.9"),
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),
        ("127.0.0.1", None, "127.0.0.1"),
        (None, "203.0.113.9", "unknown"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str | None, forwarded: str | None, expected: str
) -> None:
    """X-Forwarded-For is read right to left while the hop is a trusted proxy."""
    assert client_ip(peer, forwarded, LOOPBACK) == expected


@pytest.mark.parametrize("text", ["0/60", "5/0", "five/60", "5", "-1/60"])
def test_malformed_rates_are_rejected(text: str) -> None:
    """A rate is REQUESTS/SECONDS with both positive."""
    with pytest.raises(ValueError):
        Rate.parse(text)
