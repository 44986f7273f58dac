"""Helpers of the SNS tests: signature checks done as SNS's documentation describes them."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import and_, or_, select

from tocsin.engine.jobs import Job
from tocsin.testing import RunningServer

# The fields that the signature covers, in the order that the SNS developer
# guide gives them, by message type.
SIGNED_FIELDS = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]


def verify_signature(message: dict[str, Any], server_url: str) -> bool:
    """Verify a received SNS message against the certificate its SigningCertURL serves."""
    certificate_url = message["SigningCertURL"]
    assert certificate_url.startswith(server_url + "/sns/"), certificate_url
    response = httpx.get(certificate_url)
    assert response.status_code == 200
    certificate = x509.load_pem_x509_certificate(response.content)
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)

    text = ""
    for name in SIGNED_FIELDS[message["Type"]]:
        if name in message:
            text += f"{name}\n{message[name]}\n"
    algorithm = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    try:
        public_key.verify(
            base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), algorithm
        )
    except InvalidSignature:
        return False
    return True


def next_delivery_due(server: RunningServer) -> Any:
    """Return the due time of the next pending SNS delivery job, or None."""
    with server.runtime.database.session() as session:
        return session.scalar(
            select(Job.due_at)
            .where(Job.kind == "sns.deliver", Job.status == "pending")
            .order_by(Job.due_at)
            .limit(1)
        )


def _busy(server: RunningServer) -> bool:
    # One statement, so the check reads one snapshot: a job claimed between two
    # separate queries would look neither due nor running.
    with server.runtime.database.session() as session:
        now = server.clock.now()
        found = session.scalar(
            select(Job.id)
            .where(
                Job.kind == "sns.deliver",
                or_(
                    Job.status == "running",
                    and_(Job.status == "pending", Job.due_at <= now),
                ),
            )
            .limit(1)
        )
        return found is not None


def wait_idle(server: RunningServer, timeout: float = 10.0) -> None:
    """Wait until no SNS delivery job is running or due at the current fake time."""
    deadline = time.monotonic() + timeout
    while _busy(server):
        assert time.monotonic() < deadline, "SNS delivery jobs did not finish in time"
        time.sleep(0.02)
