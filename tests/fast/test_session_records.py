"""What a session record holds in Redis, and how small it is
(bench/RESULTS.md: bytes per session)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.auth.session_store import (
    USER_AGENT_MAX,
    Record,
    UserSnapshot,
    pack_ip,
    pack_user_agent,
    unpack_user_agent,
)

BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
]


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=3 * USER_AGENT_MAX))
def test_any_user_agent_reads_back_as_its_first_128_characters(user_agent: str) -> None:
    packed = pack_user_agent(user_agent)
    if not user_agent:
        assert packed is None
        return
    assert packed is not None
    assert unpack_user_agent(packed) == user_agent[:USER_AGENT_MAX]
    # Never more than the text itself plus the version byte.
    assert len(packed) <= len(user_agent[:USER_AGENT_MAX].encode()) + 1


def test_browser_user_agents_take_a_fraction_of_their_length() -> None:
    for user_agent in BROWSERS:
        packed = pack_user_agent(user_agent)
        assert packed is not None
        assert packed[0] == 1  # deflated with the dictionary
        assert len(packed) <= 40 < len(user_agent), (len(packed), user_agent)
        assert unpack_user_agent(packed) == user_agent[:USER_AGENT_MAX]


def test_text_deflate_cannot_shrink_is_kept_as_it_is() -> None:
    for short in ("curl/8.5.0", "python-requests/2.32.3", "é"):
        assert pack_user_agent(short) == b"\x00" + short.encode()


@pytest.mark.parametrize("stored", [b"", b"\x07whatever", b"\x01not deflate at all \xff\xfe"])
def test_what_cannot_be_read_reads_as_no_user_agent(stored: bytes) -> None:
    assert unpack_user_agent(stored) is None


def test_a_browser_session_record_fits_the_smallest_redis_size_class() -> None:
    """The value Redis holds for a typical browser login: IPv4, Edge, an
    18-character username and a 30-character email. Up to 156 bytes, Redis
    7 accounts 248 bytes for the whole key (measured, MEMORY USAGE); every
    further 32 bytes cost 32 more."""
    record = Record(
        user_id=123_456,
        kind=0,
        created_at=1_763_900_000,
        last_seen_at=1_763_900_000,
        ip=pack_ip("203.0.113.7"),
        verifier=bytes(16),
        user=UserSnapshot(
            "firstname_lastname",
            "firstname.lastname@example.com",
            1_763_000_000,
            1_763_000_000,
            False,
        ),
        user_agent=pack_user_agent(BROWSERS[1]),
    )
    assert len(msgspec.msgpack.encode(record)) <= 156
