"""The login-check limits against a real Redis, as several intake replicas share them."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis as redis_lib

from services.intake.rate_limit import LoginRateLimiter, RateLimited, address_bucket

pytestmark = pytest.mark.integration


def admitted(limiter: LoginRateLimiter, *subjects: tuple[str, str]) -> bool:
    try:
        limiter.check(*subjects)
    except RateLimited:
        return False
    return True


def failed_check(limiter: LoginRateLimiter, target: str, succeeds: bool = False) -> bool:
    """One target check through ``failures``; False when the limit refused it before it ran."""
    try:
        with limiter.failures("target", target) as attempt:
            if succeeds:
                attempt.passed()
    except RateLimited as exc:
        assert exc.kind == "target" and exc.retry_after >= 1
        return False
    return True


def test_replicas_share_the_limit_and_a_burst_gets_no_more(redis_client: redis_lib.Redis) -> None:
    replicas = [LoginRateLimiter(redis_client, 10) for _ in range(3)]
    login = f"{secrets.token_hex(4)}@example.test"
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda i: admitted(replicas[i % 3], ("login", login), ("ip", f"198.51.100.{i}")),
                                range(30)))
    assert results.count(True) == 10
    assert not admitted(replicas[0], ("login", login.upper()), ("ip", "198.51.100.200"))  # case does not matter


def test_failed_target_checks_are_limited_and_successful_ones_are_not(redis_client: redis_lib.Redis) -> None:
    a, b = LoginRateLimiter(redis_client, 5), LoginRateLimiter(redis_client, 5)
    guessed = f"{secrets.token_hex(4)}@example.test"
    assert [failed_check(a if i % 2 else b, guessed) for i in range(8)] == [True] * 5 + [False] * 3
    assert not failed_check(a, guessed, succeeds=True)  # refused before it runs, even with the right password
    merged = f"{secrets.token_hex(4)}@example.test"  # many accounts moved into one target
    assert all(failed_check(a, merged, succeeds=True) for _ in range(20))
    assert failed_check(b, merged)


def test_ipv6_clients_count_per_64(redis_client: redis_lib.Redis) -> None:
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_bucket("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_bucket("not-an-address") == "not-an-address"
    limiter = LoginRateLimiter(redis_client, 3)
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:1"
    answers = [admitted(limiter, ("ip", f"{prefix}::{i:x}")) for i in range(1, 6)]
    assert answers == [True, True, True, False, False]
