"""Hashing of station passwords and API tokens.

Station passwords (OCPP security profiles 1 and 2) may be chosen by people, so
they are stored as salted PBKDF2-SHA256. Verifying costs ~0.1 s on purpose; a
station that reconnects is verified once and then checked against an in-memory
digest of the password it proved, so its own reconnects cost no PBKDF2.

That cache is per node: when a node dies, the nodes its stations move to have never
verified them, and a few thousand PBKDF2 checks at once take minutes of CPU. Passwords
that evcsms generates itself (`new_station_password`: 144 random bits) cannot be
guessed however fast the hash, so they are stored as a salted SHA-256
(`hash_generated_password`) and verified in microseconds anywhere. Only a password a
person chose pays for key stretching.
API tokens are 256 random bits: a SHA-256 digest is enough and lookups stay fast.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets as _secrets

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 200_000
GENERATED = "sha256_generated"  # passwords evcsms generated: high entropy, no stretching
GENERATED_MIN_LENGTH = 24  # new_station_password's length (token_urlsafe(18))


def hash_password(password: str, *, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def hash_generated_password(password: str) -> str:
    """Store a password that `new_station_password` made (never one a person chose)."""
    if len(password) < GENERATED_MIN_LENGTH:
        raise ValueError("only passwords evcsms generated may skip key stretching")
    salt = os.urandom(16)
    return f"{GENERATED}$1${_b64(salt)}${_b64(_salted_sha256(salt, password))}"


def is_cheap(stored: str) -> bool:
    """Verifying against `stored` needs no key stretching (no thread, no cache)."""
    return stored.startswith(GENERATED + "$")


def verify_password(password: str, stored: str) -> bool:
    try:
        algorithm, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    try:
        salt_bytes, digest_bytes, rounds = _unb64(salt), _unb64(digest), int(iterations)
    except ValueError:  # a damaged stored value (binascii.Error is a ValueError) never matches
        return False
    if algorithm == GENERATED:
        return hmac.compare_digest(_salted_sha256(salt_bytes, password), digest_bytes)
    if algorithm != ALGORITHM or rounds < 1:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt_bytes, rounds)
    return hmac.compare_digest(candidate, digest_bytes)


def _salted_sha256(salt: bytes, password: str) -> bytes:
    return hashlib.sha256(salt + password.encode()).digest()


def new_token() -> str:
    return _secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_station_password() -> str:
    """A password for OCPP BasicAuthPassword (16 to 40 characters)."""
    return _secrets.token_urlsafe(18)  # 24 characters


class VerifiedCache:
    """Remembers which (station, password) pairs already passed PBKDF2."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, str]] = {}

    async def verify(self, station_id: str, password: str, stored: str) -> bool:
        """True if `password` matches `stored`; PBKDF2 runs in a thread, once per station."""
        if is_cheap(stored):
            return verify_password(password, stored)
        quick = hashlib.sha256(password.encode()).hexdigest()
        cached = self._known.get(station_id)
        if cached is not None and cached[0] == stored:
            return hmac.compare_digest(cached[1], quick)
        if not await asyncio.to_thread(verify_password, password, stored):
            return False
        self._known[station_id] = (stored, quick)
        return True

    def forget(self, station_id: str) -> None:
        self._known.pop(station_id, None)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
