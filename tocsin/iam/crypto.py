"""Encryption of stored secrets and derivation of signing keys from one master key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"


class SecretBox:
    """Encrypts and decrypts secrets at rest with a Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ValueError(
                "the secret key must be 32 url-safe base64-encoded bytes, as made by "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`"
            ) from exc
        self._key = key

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret does not decrypt with the configured key") from exc

    def derive(self, purpose: str) -> bytes:
        """Return a 32-byte key for ``purpose``, independent of the encryption key."""
        return hmac.new(
            base64.urlsafe_b64decode(self._key), purpose.encode(), hashlib.sha256
        ).digest()


class SecretKeyError(Exception):
    """The secret key is missing or does not decrypt the stored secrets."""


def load_or_create_key(home: Path, configured: str | None, *, create: bool = True) -> bytes:
    """Return the configured key, or the one in HOME/secret.key.

    The file is created when absent if ``create`` is true. The caller passes
    False when the database already contains encrypted secrets, because a new key
    could not decrypt them.
    """
    if configured:
        return configured.encode("ascii")
    path = home / KEY_FILE_NAME
    if path.exists():
        return path.read_bytes().strip()
    if not create:
        raise SecretKeyError(
            f"the key file {path} is missing, but the database contains secrets encrypted with "
            "a key: restore the file from the backup taken with the database, or set "
            "TOCSIN_SECRET_KEY to that key"
        )
    home.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Write a private temporary file, then link it into place: link fails when
    # another process got there first, and a reader never sees a half-written key.
    temporary = home / f".{KEY_FILE_NAME}.{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        return path.read_bytes().strip()
    finally:
        temporary.unlink()
    logger.info("created secret key file %s", path)
    return key


def check_key(secrets: SecretBox, sample: str, home: Path) -> None:
    """Raise SecretKeyError unless ``secrets`` decrypts ``sample``, a stored ciphertext."""
    try:
        secrets.decrypt(sample)
    except ValueError as exc:
        raise SecretKeyError(
            "the secret key does not decrypt the secrets stored in the database: use the key "
            f"that was in {home / KEY_FILE_NAME} (or TOCSIN_SECRET_KEY) when they were stored"
        ) from exc
