"""Throttling of password checks and registrations, counted before the work.

A password check first *reserves* a place in each of its buckets (one Redis
round trip), then verifies, then *refunds* the reservation if the password
was right: only failures stay counted. Counting before verifying is what
makes a limit hold under concurrency: a burst of guesses cannot all pass a
check and be counted only afterwards, whatever the number of workers,
threads and hosts. A reservation over a limit is refunded at once and
answered with ``Throttled``, so an attacker cannot push a window further
than its limit.

Buckets are named by a keyed HMAC of what they count (a client network, an
account, ...): no address, email or id can be read back from Redis. Clients
are counted by network: an IPv4 address, or the IPv6 prefix
(``RATELIMIT_IPV6_PREFIX``, default /64) that one subscriber usually holds
whole.

Written on Redis directly rather than through ``limits``' strategies (whose
parser reads the settings): they offer neither a refund nor several
buckets in one round trip, and both are what this needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import limits
import redis

from app.exceptions import Throttled

log = logging.getLogger(__name__)

# INCR a fixed-window counter; the window starts with its first hit. Never
# leaves a key without a TTL. Returns the count and the seconds left.
_RESERVE = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
# Give one place back, if the window still exists (never create a key).
_REFUND = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Bucket:
    rule: str  # a name in the throttle's rules, e.g. "login-account"
    subject: str  # what it counts: a network, "<network> <account>", ...


@dataclass(frozen=True)
class Reservation:
    keys: tuple[str, ...]


NO_RESERVATION = Reservation(())


def client_network(ip: str | None, ipv6_prefix: int) -> str:
    """The unit a client is counted by: its IPv4 address or its IPv6 network."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)


class Throttle:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        secret: bytes,
        rules: Mapping[str, str],
        ipv6_prefix: int = 64,
        enabled: bool = True,
    ) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.secret = secret
        self.rules = {name: limits.parse(text) for name, text in rules.items()}
        self.ipv6_prefix = ipv6_prefix
        self.enabled = enabled

    def network(self, ip: str | None) -> str:
        return client_network(ip, self.ipv6_prefix)

    def _key(self, bucket: Bucket) -> str:
        mac = hmac.new(self.secret, f"{bucket.rule}:{bucket.subject}".encode(), hashlib.sha256)
        digest = base64.urlsafe_b64encode(mac.digest()[:16]).decode("ascii").rstrip("=")
        return f"{self.prefix}:{bucket.rule}:{digest}"

    def reserve(self, *buckets: Bucket) -> Reservation:
        """A place in every bucket, or ``Throttled`` (and nothing reserved).

        Raises ``redis.RedisError`` when the counters cannot be reached:
        callers that check passwords must fail closed, not go unthrottled.
        """
        if not self.enabled:
            return NO_RESERVATION
        keys = tuple(self._key(bucket) for bucket in buckets)
        windows = [self.rules[bucket.rule] for bucket in buckets]
        # One round trip; one single-key script per bucket, so that buckets
        # may live in different Redis Cluster slots. EVAL with the script's
        # text, not EVALSHA: a replica promoted in a failover has no script
        # cache, and redis-py's cluster pipeline cannot load one.
        with self.client.pipeline(transaction=False) as pipe:
            for key, window in zip(keys, windows, strict=True):
                pipe.execute_command("EVAL", _RESERVE, 1, key, window.get_expiry())
            replies = pipe.execute()
        over = [
            int(ttl)
            for (count, ttl), window in zip(replies, windows, strict=True)
            if int(count) > window.amount
        ]
        reservation = Reservation(keys)
        if over:
            self.refund(reservation)
            raise Throttled(retry_after=max(1, *over))
        return reservation

    def refund(self, reservation: Reservation) -> None:
        """Give the places back: what they were reserved for did not count."""
        if not reservation.keys:
            return
        with self.client.pipeline(transaction=False) as pipe:
            for key in reservation.keys:
                pipe.execute_command("EVAL", _REFUND, 1, key)
            pipe.execute()
