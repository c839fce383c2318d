"""Station passwords: a person's is key-stretched; one evcsms generated is a salted SHA-256
that any node verifies in microseconds (no PBKDF2 storm when a node's stations move)."""

from __future__ import annotations

import time

import pytest

from evcsms.services import secrets


def test_a_chosen_password_is_stretched_and_verified() -> None:
    stored = secrets.hash_password("correct horse battery", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$") and not secrets.is_cheap(stored)
    assert secrets.verify_password("correct horse battery", stored)
    assert not secrets.verify_password("correct horse batterY", stored)


def test_a_generated_password_is_cheap_salted_and_verified() -> None:
    password = secrets.new_station_password()
    one, two = secrets.hash_generated_password(password), secrets.hash_generated_password(password)
    assert one != two  # salted
    assert secrets.is_cheap(one) and one.startswith("sha256_generated$")
    assert secrets.verify_password(password, one) and secrets.verify_password(password, two)
    assert not secrets.verify_password(password[:-1] + "x", one)
    began = time.perf_counter()
    for _ in range(1000):
        secrets.verify_password(password, one)
    assert time.perf_counter() - began < 1.0  # PBKDF2 at 200k rounds would take minutes


def test_only_generated_length_passwords_may_skip_stretching() -> None:
    with pytest.raises(ValueError, match="generated"):
        secrets.hash_generated_password("short-chosen-pw")


def test_garbage_stored_values_never_verify() -> None:
    for stored in ("", "x$y", "sha256_generated$1$!!$!!", "pbkdf2_sha256$x$YQ==$YQ==",
                   "pbkdf2_sha256$0$YQ==$YQ==", "md5$1$YQ==$YQ=="):
        assert not secrets.verify_password("anything-at-all-here-24", stored)


async def test_the_cache_verifies_cheap_ones_directly() -> None:
    cache = secrets.VerifiedCache()
    password = secrets.new_station_password()
    stored = secrets.hash_generated_password(password)
    assert await cache.verify("CP1", password, stored)
    assert not await cache.verify("CP1", "wrong-wrong-wrong-wrong-1", stored)
