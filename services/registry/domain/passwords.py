"""Password hashes with scrypt (memory-hard, in the standard library), and robot secrets.

A password hash is ``scrypt$<N>$<r>$<p>$<salt>$<key>`` (salt and key in unpadded base64), so
the cost can be raised later without invalidating stored hashes. N=2^14, r=8 takes about 16 MiB
and some tens of milliseconds: cheap for one login, ruinous for a guessing attacker. Hashing
blocks, so callers in async code run it in a worker thread.

Robot secrets are 256 random bits, so a plain sha256 of them is as good as a slow hash: nobody
can guess such a secret, only steal it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 1 << 14, 8, 1
KEY_BYTES = 32
MAX_PASSWORD_BYTES = 1024
ROBOT_SECRET_PREFIX = "estiba_robot_"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=KEY_BYTES
    )


def hash_password(password: str) -> str:
    """A new salted hash of ``password``."""
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; compared in constant time."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, _unb64(key))


def new_robot_secret() -> str:
    return ROBOT_SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret: str, stored: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored)
