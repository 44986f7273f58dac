"""Console passwords: the password policy, and hashing with scrypt.

Passwords are stored only as ``scrypt$N$r$p$SALT$HASH``: a 16-byte random
salt and a 32-byte hash, both in base64, from ``hashlib.scrypt`` with the
cost parameters written beside them. New hashes use N=2**14, r=8 and p=1,
which needs 16 MiB of memory (128 * N * r bytes) per hash and takes tens of
milliseconds. Because the parameters travel with each hash, raising them
later leaves old hashes valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from functools import cache

from tocsin.iam.errors import PasswordPolicyViolationException

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# hashlib.scrypt refuses to use more memory than this; 128 * N * r is 16 MiB by default.
SCRYPT_MAX_MEMORY = 64 * 1024 * 1024

# The password policy follows AWS's default for accounts without a custom
# policy, which requires 8 to 128 characters and a mix of character types.
# Tocsin makes the mix three of the four classes and rejects the user name.
MIN_LENGTH = 8
MAX_LENGTH = 128
REQUIRED_CLASSES = 3
SYMBOLS = "!@#$%^&*()_+-=[]{}|'\"\\,./<>?;:`~ "


def _character_classes(password: str) -> list[str]:
    """Name the character classes that occur in ``password``."""
    found = []
    if any(character in string.ascii_uppercase for character in password):
        found.append("uppercase letters")
    if any(character in string.ascii_lowercase for character in password):
        found.append("lowercase letters")
    if any(character in string.digits for character in password):
        found.append("numbers")
    if any(character in SYMBOLS or not character.isalnum() for character in password):
        found.append("symbols")
    return found


def check_password_policy(password: str, user_name: str) -> None:
    """Raise PasswordPolicyViolationException unless ``password`` meets the password policy."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyViolationException(
            f"Password should have a minimum length of {MIN_LENGTH}; it has {len(password)} "
            "characters."
        )
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyViolationException(
            f"Password should have a maximum length of {MAX_LENGTH}; it has {len(password)} "
            "characters."
        )
    classes = _character_classes(password)
    if len(classes) < REQUIRED_CLASSES:
        have = ", ".join(classes) or "none"
        raise PasswordPolicyViolationException(
            f"Password should contain at least {REQUIRED_CLASSES} of uppercase letters, "
            f"lowercase letters, numbers and symbols; it contains {have}."
        )
    if password.lower() == user_name.lower():
        raise PasswordPolicyViolationException("Password should not be the same as the user name.")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=SCRYPT_MAX_MEMORY,
        dklen=HASH_BYTES,
    )


def hash_password(password: str) -> str:
    """Return the storable scrypt hash of ``password`` with a new random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encoded_salt = base64.b64encode(salt).decode("ascii")
    encoded_digest = base64.b64encode(digest).decode("ascii")
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded_salt}${encoded_digest}"


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a stored hash; the hashes are compared in constant time."""
    try:
        scheme, n, r, p, encoded_salt, encoded_digest = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(encoded_salt, validate=True)
        expected = base64.b64decode(encoded_digest, validate=True)
        digest = _derive(password, salt, int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


@cache
def _unknown_user_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def spend_verification_time(password: str) -> None:
    """Verify ``password`` against a random hash and ignore the result.

    A sign-in with an unknown user name calls this, so that it takes as long
    as one with a wrong password and the response time does not reveal which
    user names exist.
    """
    verify_password(password, _unknown_user_hash())
