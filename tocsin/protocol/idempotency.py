"""Idempotency tokens: a retried request with the same token gets the first response.

ssm-incidents (``clientToken``), ssm-contacts (``IdempotencyToken``), RAM
(``clientToken``) and SSM (``ClientToken``) let a client retry a mutating
call safely. Tocsin stores the first successful output of each token, keyed
by account, service, operation and token, together with a digest of every
other parameter:

- the same token with the same parameters within 24 hours returns the stored
  output and changes nothing;
- the same token with different parameters raises the service's idempotency
  error (``ServiceInfo.idempotency_error``) naming the token member;
- after 24 hours the record is ignored, and ``purge`` deletes such records.

The dispatcher runs ``find`` before the handler and ``store`` after it, in the
handler's transaction, so the record commits or rolls back with the work. Two
requests with the same token can race: both miss in ``find``, both run, and
the second ``store`` fails on the primary key with ``IntegrityError`` (on
PostgreSQL at the insert, on SQLite at the latest at commit). The dispatcher
retries such a request once in a new transaction, where ``find`` returns the
winner's output. SQLite transactions start with BEGIN IMMEDIATE, so there the
second request normally waits and finds the record at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from botocore.model import OperationModel
from sqlalchemy import CursorResult, String, Table, Text, bindparam, delete, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tocsin.protocol.errors import ServiceError
from tocsin.protocol.services import ServiceSpec
from tocsin.store.base import Base

# How long a token is remembered. AWS states no single window for these
# services; 24 hours covers any client's retry schedule.
IDEMPOTENCY_WINDOW = timedelta(hours=24)

# Token members of models that do not mark them with the idempotencyToken trait.
TOKEN_MEMBER_NAMES = ("clientToken", "ClientToken", "IdempotencyToken")

# RAM's model sets no maximum length on clientToken. Longer tokens are keyed by
# their SHA-256 digest so that the primary key stays within index size limits.
MAX_STORED_TOKEN_CHARS = 256
# Characters of a token quoted in the mismatch message.
MAX_QUOTED_TOKEN_CHARS = 64


class IdempotencyRecord(Base):
    """The first output of one idempotency token."""

    __tablename__ = "idempotency_records"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    operation: Mapped[str] = mapped_column(String(128), primary_key=True)
    token: Mapped[str] = mapped_column(String(MAX_STORED_TOKEN_CHARS), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(Text)  # tagged JSON, see dumps_tagged
    created_at: Mapped[datetime] = mapped_column(index=True)


# Statements built once, because every request with a token runs them.
_RECORDS = cast(Table, IdempotencyRecord.__table__)
_KEY_MATCH = (
    _RECORDS.c.account_id == bindparam("account_id"),
    _RECORDS.c.service == bindparam("service"),
    _RECORDS.c.operation == bindparam("operation"),
    _RECORDS.c.token == bindparam("token"),
)
_SELECT_RECORD = select(
    _RECORDS.c.request_digest, _RECORDS.c.response, _RECORDS.c.created_at
).where(*_KEY_MATCH)
_DELETE_EXPIRED = delete(_RECORDS).where(*_KEY_MATCH, _RECORDS.c.created_at <= bindparam("cutoff"))
_INSERT_RECORD = insert(_RECORDS)


@dataclass(frozen=True)
class IdempotentRequest:
    """The identity of one request that carries an idempotency token."""

    account_id: str
    service: str
    operation: str
    token_member: str
    token: str
    digest: str
    error_code: str  # the service's code for a reused token with new parameters

    @classmethod
    def from_params(
        cls,
        spec: ServiceSpec,
        operation: OperationModel,
        account_id: str,
        params: Mapping[str, Any],
    ) -> IdempotentRequest | None:
        """Return the request's identity, or None when it carries no token."""
        member = token_member(operation)
        if member is None:
            return None
        token = params.get(member)
        if not isinstance(token, str) or not token:
            return None
        return cls(
            account_id=account_id,
            service=spec.name,
            operation=operation.name,
            token_member=member,
            token=token,
            digest=request_digest(params, member),
            error_code=spec.info.idempotency_error,
        )

    @property
    def stored_token(self) -> str:
        """Token as stored in the primary key: itself, or a digest when it is long."""
        if len(self.token) <= MAX_STORED_TOKEN_CHARS:
            return self.token
        return "sha256:" + hashlib.sha256(self.token.encode("utf-8")).hexdigest()


def token_member(operation: OperationModel) -> str | None:
    """Return the input member that carries the operation's idempotency token, if any."""
    marked = operation.idempotent_members
    if marked:
        return str(marked[0])
    shape = operation.input_shape
    if shape is None:
        return None
    for name in TOKEN_MEMBER_NAMES:
        if name in shape.members:
            return name
    return None


def request_digest(params: Mapping[str, Any], token_member: str | None) -> str:
    """Return a SHA-256 hex digest of every parameter except the token.

    Members set to None count as absent, and key order does not matter.
    """
    rest = {k: v for k, v in params.items() if k != token_member}
    canonical = json.dumps(
        encode_tagged(_drop_nulls(rest)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def find(session: Session, request: IdempotentRequest, *, now: datetime) -> dict[str, Any] | None:
    """Return the stored output of ``request``'s token, or None when there is none.

    Raises the service's idempotency error when the token was used with
    different parameters within ``IDEMPOTENCY_WINDOW``.
    """
    output, _expired = lookup(session, request, now=now)
    return output


def lookup(
    session: Session, request: IdempotentRequest, *, now: datetime
) -> tuple[dict[str, Any] | None, bool]:
    """Return the stored output as ``find`` does, and whether an expired record has the token.

    Pass the second value to ``store`` as ``replace_expired``.
    """
    record = session.execute(_SELECT_RECORD, _key_parameters(request)).first()
    if record is None:
        return None, False
    if record.created_at <= now - IDEMPOTENCY_WINDOW:
        return None, True
    if record.request_digest != request.digest:
        raise ServiceError(_mismatch_message(request), code=request.error_code)
    output = loads_tagged(record.response)
    if not isinstance(output, dict):
        kind = type(output).__name__
        raise TypeError(f"invalid idempotency record for {request.token!r}: output is a {kind}")
    return output, False


def store(
    session: Session,
    request: IdempotentRequest,
    output: Mapping[str, Any] | None,
    *,
    now: datetime,
    replace_expired: bool = True,
) -> None:
    """Record ``output`` as the response to ``request``'s token.

    An output of None is stored as ``{}``. Raises ``IntegrityError`` when a
    concurrent request stored the same token first; see the module docstring.
    ``replace_expired=False`` skips the deletion of an expired record, for a
    caller whose ``lookup`` in the same transaction found none.
    """
    parameters = _key_parameters(request)
    if replace_expired:
        # An expired record of the same token is replaced, not kept.
        cutoff = now - IDEMPOTENCY_WINDOW
        session.execute(_DELETE_EXPIRED, {**parameters, "cutoff": cutoff})
    row = {
        **parameters,
        "request_digest": request.digest,
        "response": dumps_tagged(dict(output or {})),
        "created_at": now,
    }
    session.execute(_INSERT_RECORD, row)


def purge(session: Session, older_than: datetime) -> int:
    """Delete records created at or before ``older_than`` and return how many were deleted."""
    statement = delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= older_than)
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def _key_parameters(request: IdempotentRequest) -> dict[str, str]:
    return {
        "account_id": request.account_id,
        "service": request.service,
        "operation": request.operation,
        "token": request.stored_token,
    }


def _mismatch_message(request: IdempotentRequest) -> str:
    token = request.token
    if len(token) > MAX_QUOTED_TOKEN_CHARS:
        token = token[:MAX_QUOTED_TOKEN_CHARS] + "..."
    return (
        f"The {request.token_member} '{token}' was already used for a {request.operation} "
        f"request with different parameters. Use a new {request.token_member} for a new request."
    )


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_nulls(v) for v in value]
    return value


# --- tagged JSON ----------------------------------------------------------
#
# Outputs contain datetimes and bytes, which JSON cannot carry. A value that
# JSON cannot carry becomes an object with one "$"-prefixed key:
# {"$datetime": ISO 8601}, {"$bytes": base64} or {"$float": "nan"|"inf"|"-inf"}.
# A real one-key object whose key starts with "$" is wrapped as {"$map": {...}},
# so every value decodes back to itself (tuples come back as lists).


def encode_tagged(value: Any) -> Any:
    """Return ``value`` as JSON-compatible data with datetimes, bytes and odd floats tagged."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        encoded: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"tagged JSON needs string keys, got {key!r}")
            encoded[key] = encode_tagged(item)
        if len(encoded) == 1 and next(iter(encoded)).startswith("$"):
            return {"$map": encoded}
        return encoded
    if isinstance(value, list | tuple):
        return [encode_tagged(item) for item in value]
    raise TypeError(f"tagged JSON cannot encode {type(value).__name__}: {value!r}")


def decode_tagged(data: Any) -> Any:
    """Invert ``encode_tagged``."""
    if isinstance(data, list):
        return [decode_tagged(item) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, payload),) = data.items()
        if tag == "$datetime":
            return datetime.fromisoformat(payload)
        if tag == "$bytes":
            return base64.b64decode(payload)
        if tag == "$float":
            return float(payload)
        if tag == "$map":
            return {key: decode_tagged(item) for key, item in payload.items()}
        if tag.startswith("$"):
            raise ValueError(f"unknown tagged JSON tag {tag!r}")
    return {key: decode_tagged(item) for key, item in data.items()}


def dumps_tagged(value: Any) -> str:
    """Serialise ``value`` to compact tagged JSON text."""
    return json.dumps(
        encode_tagged(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def loads_tagged(text: str | bytes) -> Any:
    """Parse tagged JSON text back to the Python values it was made from."""
    return decode_tagged(json.loads(text))
