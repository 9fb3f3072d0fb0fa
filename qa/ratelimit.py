"""Per-client rate limiting: one token bucket per API key (or per address when the server has no keys).

A bucket holds up to `burst` requests and refills at `per_minute / 60` per second, so one client can spend
its burst at once but cannot keep more than its share of the workers busy. Buckets live in this process:
with several replicas behind a load balancer each replica limits on its own (see README, "Replicas").
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Decision:
    allowed: bool
    remaining: int
    retry_after: float  # seconds until one request is allowed again (0 when allowed)


class RateLimiter:
    def __init__(self, per_minute: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive (0 means: no limiter at all)")
        self.rate = per_minute / 60.0
        self.burst = max(1, burst if burst is not None else math.ceil(per_minute / 6))  # default: 10 seconds' worth
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, last refill time)
        self._lock = threading.Lock()

    def hit(self, client: str) -> Decision:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > self._max_clients:
                self._forget_full(now)
        retry = 0.0 if allowed else (1.0 - tokens) / self.rate
        return Decision(allowed, int(tokens), retry)

    def blocked(self, client: str) -> float:
        """Seconds until `client` may try again (0 when it may), without spending a token."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Buckets that have refilled are indistinguishable from new ones: dropping them bounds memory."""
        for client, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[client]


def client_id(api_key: str | None, address: str | None) -> str:
    """Keys are hashed so the limiter's memory never holds a usable secret."""
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return "addr:" + (address or "unknown")
