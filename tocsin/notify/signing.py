"""Signatures of outgoing SNS messages, and the key pair and certificate that make them.

Tocsin signs as SNS does: the string to sign is ``Name\\nValue\\n`` for each
signed field that the message has, in the order the SNS developer guide lists
("Verifying the signatures of Amazon SNS messages"). SignatureVersion 1 signs
it with SHA1withRSA and version 2 with SHA256withRSA, and the Signature field
is the base64 of the result. The certificate that verifies a signature is
served at the message's SigningCertURL.

One RSA key pair is made on first use and stored in ``sns_signing_keys`` with
the private key encrypted by the server's secret key. If two processes make a
key at the same moment, both keys stay valid, because each message names the
certificate of the key that signed it and every stored certificate is served.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.crypto import SecretBox
from tocsin.notify.sns_models import SnsSigningKey

logger = logging.getLogger(__name__)

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
KEY_SIZE = 2048
CERTIFICATE_YEARS = 10
CERTIFICATE_NAME = "sns.tocsin.local"


@dataclass(frozen=True)
class SigningKey:
    """A decrypted private key and the id that names its certificate."""

    key_id: str
    private_key: rsa.RSAPrivateKey


def string_to_sign(message: dict[str, Any]) -> bytes:
    """Return the canonical string of ``message`` that its Signature covers."""
    fields = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    lines = []
    for name in fields:
        if name in message and message[name] is not None:
            lines.append(f"{name}\n{message[name]}\n")
    return "".join(lines).encode("utf-8")


def sign(key: SigningKey, message: dict[str, Any], version: str) -> str:
    """Return the base64 signature of ``message`` with SignatureVersion ``version``."""
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.private_key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    return base64.b64encode(signature).decode("ascii")


def certificate_file_name(key_id: str) -> str:
    return f"SimpleNotificationService-{key_id}.pem"


def current_key(session: Session, clock: Clock, box: SecretBox) -> SigningKey:
    """Return the oldest stored signing key, making and storing one when there is none."""
    row = session.scalars(
        select(SnsSigningKey).order_by(SnsSigningKey.created_at, SnsSigningKey.key_id).limit(1)
    ).first()
    if row is None:
        row = _create_key(session, clock, box)
    private_key = serialization.load_pem_private_key(
        box.decrypt(row.encrypted_private_key).encode("ascii"), password=None
    )
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError(f"SNS signing key {row.key_id} is not an RSA key")
    return SigningKey(row.key_id, private_key)


def certificate_pem(session: Session, key_id: str) -> str | None:
    """Return the PEM certificate of the signing key ``key_id``, or None."""
    row = session.get(SnsSigningKey, key_id)
    return row.certificate_pem if row is not None else None


def _create_key(session: Session, clock: Clock, box: SecretBox) -> SnsSigningKey:
    now = clock.now()
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_NAME)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * CERTIFICATE_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_id = hashlib.sha256(public_der).hexdigest()[:32]
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    row = SnsSigningKey(
        key_id=key_id,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        encrypted_private_key=box.encrypt(private_pem),
        created_at=now,
    )
    session.add(row)
    session.flush()
    logger.info("created SNS message signing key %s", key_id)
    return row
