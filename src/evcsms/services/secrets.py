"""Hashing of station passwords and API tokens.

Station passwords (OCPP security profiles 1 and 2) may be chosen by people, so
they are stored as salted PBKDF2-SHA256. Verifying costs ~0.1 s on purpose; a
station that reconnects is verified once and then checked against an in-memory
digest of the password it proved, so a reconnection storm costs no PBKDF2.
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


def hash_password(password: str, *, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algorithm, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algorithm != ALGORITHM:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
    return hmac.compare_digest(candidate, _unb64(digest))


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
