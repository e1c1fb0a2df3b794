"""Passwords (salted scrypt) and bearer tokens (random, stored as their sha256).

Tokens carry a prefix that says what they are: `lsc_` a camera's token (lives until revoked),
`lss_` a reviewer's or admin's login session (expires). Both are 256 random bits, so a plain
sha256 is enough to store them; passwords are chosen by people and get scrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

CAMERA_TOKEN_PREFIX = "lsc_"
SESSION_TOKEN_PREFIX = "lss_"
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
MIN_PASSWORD_LENGTH = 10


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * 2
    )


def hash_password(password: str) -> str:
    """`scrypt$N$R$P$SALT$HASH` (base64) of PASSWORD with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encode = base64.b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether PASSWORD matches STORED (from hash_password); False for a malformed STORED."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def password_problem(password: str) -> str | None:
    """Why PASSWORD is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}"
    if "\x00" in password:
        return "password must not contain NUL characters"
    return None


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
