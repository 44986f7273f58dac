"""Opaque, tamper-evident pagination tokens and keyset pagination helpers.

A token is ``base64url(version || payload || HMAC-SHA256(key, scope, version || payload))``
without padding. The payload is compact tagged JSON (see
``tocsin.protocol.idempotency.dumps_tagged``) with the issue time and the
caller's state. The scope (account, service, operation and a digest of the
filters, see ``page_scope``) is part of the MAC but not of the token, so a
token replayed against another account, operation or filter fails to decode.

Tokens use only ``A-Z a-z 0-9 - _``, which fits every NextToken pattern of the
served models. The strictest is ssm-contacts' ``^[\\\\\\/a-zA-Z0-9_+=\\-]*$``.
``encode`` raises when a token would exceed ``MAX_TOKEN_LENGTH`` (2000, the
maximum length of ssm-incidents' NextToken) or a smaller limit that the
caller passes.

Keyset pagination: a listing is sorted by a unique key (for example
``(created_at, arn)``), and the token stores the last key returned, so the
next page starts strictly after it. Rows inserted or deleted between pages
neither repeat nor shift other rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from tocsin.engine.clock import Clock, SystemClock
from tocsin.protocol.idempotency import dumps_tagged, loads_tagged, request_digest

T = TypeVar("T")

TOKEN_LIFETIME = timedelta(hours=24)
MAX_TOKEN_LENGTH = 2000
MIN_KEY_BYTES = 16
TOKEN_VERSION = b"\x01"
MAC_BYTES = 32  # HMAC-SHA256, untruncated

# Message sent to clients with the service's invalid-token error code.
INVALID_TOKEN_MESSAGE = (
    "The pagination token is invalid or expired. Tokens last 24 hours and work only "
    "for the request that returned them; repeat the request without a token."
)


class InvalidPageToken(ValueError):
    """A pagination token that was altered, cut short, issued for another scope, or expired.

    Handlers turn it into the service's ``ServiceInfo.invalid_token_error``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_TOKEN_MESSAGE)
        self.reason = reason  # for logs only, because clients get INVALID_TOKEN_MESSAGE


class PageTokens:
    """Encoder and decoder of pagination tokens signed with ``key``."""

    def __init__(
        self,
        key: bytes,
        clock: Clock | None = None,
        *,
        lifetime: timedelta = TOKEN_LIFETIME,
    ) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"pagination key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._clock: Clock = clock or SystemClock()
        self._lifetime = lifetime

    def encode(
        self, scope: str, state: Mapping[str, Any], *, max_length: int = MAX_TOKEN_LENGTH
    ) -> str:
        """Return a token that carries ``state`` and decodes only for ``scope``.

        ``state`` may contain the values of tagged JSON (datetimes and bytes
        too). Raises ``ValueError`` when the token would exceed ``max_length``
        characters. Services with shorter NextToken shapes pass their limit
        (cloudwatch's MetricDataQueryDefinitionNextToken allows 256). An empty
        state gives a token of about 90 characters.
        """
        issued = int(self._clock.now().timestamp())
        payload = dumps_tagged({"i": issued, "s": dict(state)}).encode("utf-8")
        body = TOKEN_VERSION + payload
        token = _b64encode(body + self._mac(scope, body))
        if len(token) > max_length:
            raise ValueError(
                f"pagination state of {len(payload)} bytes gives a token of {len(token)} "
                f"characters, over the maximum of {max_length}"
            )
        return token

    def decode(self, scope: str, token: str) -> dict[str, Any]:
        """Return the state that ``encode(scope, ...)`` put into ``token``.

        Raises ``InvalidPageToken`` for any token that this instance did not
        issue for ``scope`` within the token lifetime.
        """
        raw = _b64decode(token)
        if len(raw) <= len(TOKEN_VERSION) + MAC_BYTES:
            raise InvalidPageToken("token too short")
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(scope, body)):
            raise InvalidPageToken("signature does not match the scope")
        if not body.startswith(TOKEN_VERSION):
            raise InvalidPageToken("unknown token version")
        try:
            content = loads_tagged(body[len(TOKEN_VERSION) :])
            issued = datetime.fromtimestamp(content["i"], UTC)
            state: dict[str, Any] = dict(content["s"])
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            # Only a token signed with this key gets here, so this is a bug or a leaked key.
            raise InvalidPageToken(f"signed token has a malformed payload: {exc}") from exc
        if self._clock.now() - issued > self._lifetime:
            raise InvalidPageToken(f"token issued at {issued.isoformat()} has expired")
        return state

    def _mac(self, scope: str, body: bytes) -> bytes:
        scope_bytes = scope.encode("utf-8")
        # The length prefix keeps scope and body apart, so no split of one
        # byte string into scope and body collides with another.
        message = struct.pack(">I", len(scope_bytes)) + scope_bytes + body
        return hmac.new(self._key, message, hashlib.sha256).digest()


def page_scope(account_id: str, service: str, operation: str, filters: Mapping[str, Any]) -> str:
    """Return the scope of a listing: who lists what, with which filters.

    ``filters`` are the request's parameters other than the token and the
    page size, so a token from a listing with other filters does not decode.
    """
    return f"{account_id}/{service}/{operation}/{request_digest(filters, None)}"


def listing_filters(params: Mapping[str, Any], *exclude: str) -> dict[str, Any]:
    """Return ``params`` without pagination members (NextToken, MaxResults in any case)."""
    skipped = {"nexttoken", "maxresults", *(name.lower() for name in exclude)}
    return {k: v for k, v in params.items() if k.lower() not in skipped}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next page (None on the last page)."""

    items: list[T]
    next_token: str | None


def paginate(
    items: Sequence[T],
    *,
    key: Callable[[T], tuple[Any, ...]],
    max_results: int,
    token: str | None,
    tokens: PageTokens,
    scope: str,
    max_token_length: int = MAX_TOKEN_LENGTH,
) -> Page[T]:
    """Return one page of ``items``, which must be sorted ascending by the unique ``key``."""
    after = _last_key(tokens, scope, token)
    start = 0 if after is None else bisect_right(items, after, key=key)
    chunk = list(items[start : start + max_results + 1])
    return _finish(chunk, max_results, key, tokens, scope, max_token_length)


def paginate_query(
    session: Session,
    query: Select[Any],
    *,
    order_by: Sequence[InstrumentedAttribute[Any]],
    max_results: int,
    token: str | None,
    tokens: PageTokens,
    scope: str,
    descending: bool = False,
    max_token_length: int = MAX_TOKEN_LENGTH,
) -> Page[Any]:
    """Run ``query`` (a select of one ORM entity) for one page, in ``order_by`` order.

    ``order_by`` must be a unique key of the entity, such as ``(created_at, arn)``.
    All columns sort in one direction, ascending unless ``descending``. The
    query gets the ORDER BY, the keyset condition and a LIMIT added, so it
    must have none of these.
    """
    after = _last_key(tokens, scope, token)
    if after is not None:
        if len(after) != len(order_by):
            raise InvalidPageToken("token key has the wrong number of columns")
        bound = tuple_(
            *(literal(v, column.type) for v, column in zip(after, order_by, strict=True))
        )
        keyset = tuple_(*order_by)
        query = query.where(keyset < bound if descending else keyset > bound)
    ordering = [column.desc() if descending else column.asc() for column in order_by]
    rows = list(session.scalars(query.order_by(*ordering).limit(max_results + 1)))

    def key(item: Any) -> tuple[Any, ...]:
        return tuple(getattr(item, column.key) for column in order_by)

    return _finish(rows, max_results, key, tokens, scope, max_token_length)


def _last_key(tokens: PageTokens, scope: str, token: str | None) -> tuple[Any, ...] | None:
    if not token:
        return None
    after = tokens.decode(scope, token).get("after")
    if not isinstance(after, list):
        raise InvalidPageToken("token carries no key")
    return tuple(after)


def _finish(
    chunk: list[T],
    max_results: int,
    key: Callable[[T], tuple[Any, ...]],
    tokens: PageTokens,
    scope: str,
    max_token_length: int,
) -> Page[T]:
    # The query fetches one row past the page to detect whether another page
    # exists, so the last page never carries a token that leads to an empty page.
    if len(chunk) <= max_results:
        return Page(chunk, None)
    items = chunk[:max_results]
    state = {"after": list(key(items[-1]))}
    next_token = tokens.encode(scope, state, max_length=max_token_length)
    return Page(items, next_token)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(token: str) -> bytes:
    if not isinstance(token, str) or not token.isascii():
        raise InvalidPageToken("token is not ASCII")
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPageToken(f"token is not base64url: {exc}") from exc
    # Reject other spellings of the same bytes (unused low bits in the last
    # character), so that every changed character invalidates a token.
    if _b64encode(raw) != token:
        raise InvalidPageToken("token is not in canonical base64url")
    return raw
