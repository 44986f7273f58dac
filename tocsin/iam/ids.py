"""Generators of account ids, principal ids and credentials in AWS's formats."""

from __future__ import annotations

import secrets
import string

_UPPER_ALNUM = string.ascii_uppercase + string.digits
# AWS access key ids use base32 letters and digits 2-7 after the four-letter prefix.
_KEY_ALPHABET = string.ascii_uppercase + "234567"


def new_account_id() -> str:
    """Return a random 12-digit account id that does not start with 0."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_access_key_id(temporary: bool = False) -> str:
    """Return an AKIA... id for a user's key, or ASIA... for temporary credentials."""
    return ("ASIA" if temporary else "AKIA") + _random(_KEY_ALPHABET, 16)


def new_secret_access_key() -> str:
    return _random(string.ascii_letters + string.digits + "+/", 40)


def new_session_token() -> str:
    return secrets.token_urlsafe(96)


def new_user_id() -> str:
    return "AIDA" + _random(_UPPER_ALNUM, 17)


def new_role_id() -> str:
    return "AROA" + _random(_UPPER_ALNUM, 17)
