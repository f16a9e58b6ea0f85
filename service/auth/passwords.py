"""PIN and password hashing with scrypt (memory-hard, in the standard library).

Format: ``scrypt$n$r$p$salt_b64$hash_b64``. Parameters n=2**14, r=8, p=1 use 16 MiB and take
tens of milliseconds on a Raspberry Pi 4: slow enough to make guessing a 4–6 digit PIN from a
stolen database costly, with the lock-out after repeated wrong PINs covering online guessing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1
MAXMEM = 64 * 1024 * 1024


def hash_secret(secret: str, *, n: int = N) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=R, p=P, maxmem=MAXMEM, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
