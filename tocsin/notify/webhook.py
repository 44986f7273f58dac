"""A generic HTTP webhook provider: one JSON POST per message.

The URL is ``webhook+https://HOST[:PORT]/PATH[?secret=SECRET]`` (or
``webhook+http://``). Tocsin posts to the URL without the ``webhook+`` prefix
and without the ``secret`` parameter. The JSON body is::

    {"type": "SMS", "to": "+12065550100", "subject": "...", "body": "...",
     "key": "...", "channelArn": "arn:...", "accountId": "111111111111"}

The ``Idempotency-Key`` header repeats ``key``, which is the same on every
retry of one send. With a secret, the ``X-Tocsin-Signature`` header is
``sha256=`` followed by the lowercase hex HMAC-SHA256 of the exact body bytes
under the secret, so a receiver can check that the request came from Tocsin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.notify.base import DeliveryFailed, OutgoingMessage, ProviderSettingError

logger = logging.getLogger(__name__)

SCHEMES = ("webhook+http", "webhook+https")
SIGNATURE_HEADER = "X-Tocsin-Signature"
SECRET_PARAMETER = "secret"
# Status codes of the 4xx range that mean "try again later" rather than "this will never work".
TRANSIENT_CLIENT_ERRORS = (408, 429)
# Characters of the receiver's response body quoted in an error message.
MAX_QUOTED_RESPONSE = 200


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook endpoint parsed from its setting."""

    url: str  # the URL that requests go to, without webhook+ and the secret
    origin: str  # scheme://host[:port], which names the endpoint in logs and errors
    secret: bytes | None


def parse_webhook_url(setting: str, url: str) -> WebhookTarget:
    """Parse a ``webhook+http(s)://`` URL, raising ProviderSettingError that names ``setting``."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ProviderSettingError(
            f"invalid setting {setting}: a webhook URL starts with webhook+https:// or "
            f"webhook+http://, not {parts.scheme}://"
        )
    try:
        port = parts.port
    except ValueError as error:
        raise ProviderSettingError(f"invalid setting {setting}: {error}") from error
    if not parts.hostname:
        raise ProviderSettingError(
            f"invalid setting {setting}: the webhook URL names no host; use "
            "webhook+https://HOST/PATH"
        )
    if parts.username or parts.password:
        raise ProviderSettingError(
            f"invalid setting {setting}: the webhook URL must not carry user:password; "
            "authenticate with ?secret=... and the signature header instead"
        )

    query = parse_qsl(parts.query, keep_blank_values=True)
    secrets = [value for name, value in query if name == SECRET_PARAMETER]
    if secrets and not secrets[-1]:
        raise ProviderSettingError(f"invalid setting {setting}: the webhook secret is empty")
    kept_query = urlencode([(name, value) for name, value in query if name != SECRET_PARAMETER])

    scheme = parts.scheme.removeprefix("webhook+")
    return WebhookTarget(
        url=urlunsplit((scheme, parts.netloc, parts.path or "/", kept_query, "")),
        # The origin leaves out the path, because the path may contain a token.
        origin=f"{scheme}://{parts.hostname}" + (f":{port}" if port else ""),
        secret=secrets[-1].encode() if secrets else None,
    )


class WebhookProvider:
    """Posts each message as JSON to one HTTP endpoint."""

    name = "webhook"

    def __init__(self, setting: str, url: str, timeout_seconds: float, tls: ssl.SSLContext) -> None:
        self.target = parse_webhook_url(setting, url)
        self.timeout_seconds = timeout_seconds
        self.client = httpx.Client(
            timeout=timeout_seconds,
            verify=tls,
            follow_redirects=False,
            headers={"User-Agent": f"tocsin/{__version__}"},
        )
        if self.target.origin.startswith("http:"):
            logger.warning(
                "%s posts messages to %s over plain HTTP, so pages and activation codes "
                "cross the network unencrypted",
                setting,
                self.target.origin,
            )

    def send(self, session: Session, message: OutgoingMessage, now: datetime) -> str:
        body = json.dumps(
            {
                "type": message.channel_type,
                "to": message.address,
                "subject": message.subject,
                "body": message.body,
                "key": message.key,
                "channelArn": message.channel_arn,
                "accountId": message.account_id,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key}
        if self.target.secret is not None:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self.target.secret, body)
        origin = self.target.origin
        try:
            response = self.client.post(self.target.url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise DeliveryFailed(
                f"webhook {origin} timed out after {self.timeout_seconds:g} seconds"
            ) from error
        except httpx.TransportError as error:
            raise DeliveryFailed(
                f"cannot reach webhook {origin}: {str(error) or type(error).__name__}"
            ) from error
        _check_status(origin, response)
        return f"sent by webhook to {origin}"


def sign(secret: bytes, body: bytes) -> str:
    """Return the lowercase hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _check_status(origin: str, response: httpx.Response) -> None:
    """Raise DeliveryFailed unless the receiver returned a 2xx status."""
    status = response.status_code
    if 200 <= status < 300:
        return
    quoted = response.text[:MAX_QUOTED_RESPONSE].strip()
    detail = f"webhook {origin} returned HTTP {status}" + (f": {quoted}" if quoted else "")
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        raise DeliveryFailed(
            f"{detail}; redirects are not followed, so configure the final URL"
            + (f" (the receiver points to {location})" if location else ""),
            permanent=True,
        )
    permanent = 400 <= status < 500 and status not in TRANSIENT_CLIENT_ERRORS
    raise DeliveryFailed(detail, permanent=permanent)
