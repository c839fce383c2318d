"""Login sessions of the web dashboard: an HMAC-signed cookie, CSRF tokens.

The session cookie holds the user's id, an expiry and a random nonce, signed with a key
kept in the database (`web_secrets`, the same on every node) and the user's password
hash: changing the password ends every session of that user. Forms carry a CSRF token:
the session's own (an HMAC of its nonce) once logged in, and on the login form a random
token that must match the `evcsms_login_csrf` cookie (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "evcsms_session"
LOGIN_CSRF_COOKIE = "evcsms_login_csrf"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: int
    expires: int
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: str, payload: str, password_hash: str) -> str:
    bound = hashlib.sha256(password_hash.encode()).hexdigest()
    return _b64(hmac.new(key.encode(), f"{payload}|{bound}".encode(), hashlib.sha256).digest())


def make_session(key: str, user_id: int, password_hash: str, *, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    payload = _b64(json.dumps({"u": user_id, "e": expires, "n": secrets.token_hex(16)},
                              separators=(",", ":")).encode())
    return f"{payload}.{_signature(key, payload, password_hash)}"


def read_session(cookie: str) -> SessionData | None:
    """The claims of a cookie, NOT yet verified (see `verify_session`)."""
    try:
        payload, _ = cookie.split(".")
        data = json.loads(_unb64(payload))
        return SessionData(int(data["u"]), int(data["e"]), str(data["n"]))
    except (ValueError, KeyError, TypeError):
        return None


def verify_session(key: str, cookie: str, password_hash: str, *,
                   now: float | None = None) -> bool:
    payload, _, signature = cookie.partition(".")
    data = read_session(cookie)
    if data is None or data.expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(key, payload, password_hash))


def csrf_token(key: str, nonce: str) -> str:
    """The CSRF token of the session with this nonce."""
    return _b64(hmac.new(key.encode(), f"csrf|{nonce}".encode(), hashlib.sha256).digest())


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)
