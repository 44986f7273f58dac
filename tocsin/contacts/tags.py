"""Tags of taggable ssm-contacts resources, stored by resource ARN.

Contacts are taggable here. Rotations become taggable when
``tocsin.contacts.rotations`` registers its resolver with ``register_resolver``
on import, which the server does when it loads the rotation handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.contacts.access import authorized_contact, parse_arn
from tocsin.contacts.errors import RESOURCE, invalid, not_found, quota_exceeded
from tocsin.contacts.models import ResourceTag
from tocsin.protocol.handlers import RequestContext

MAX_TAGS = 50

# Checks that the caller may perform an action on the resource of an ARN and
# returns the ARN under which its tags are stored.
Resolver = Callable[[RequestContext, str, str], str]


def _contact_resolver(ctx: RequestContext, arn: str, action: str) -> str:
    # Tags are visible and changeable only from the owner account.
    return authorized_contact(ctx, ctx.session, arn, action, owner_only=True).arn


_resolvers: dict[str, Resolver] = {"contact": _contact_resolver}


def register_resolver(kind: str, resolver: Resolver) -> None:
    """Make resources whose ARN has resource type ``kind`` taggable."""
    _resolvers[kind] = resolver


def resolve(ctx: RequestContext, arn: str, action: str) -> str:
    parsed = parse_arn(arn)
    resolver = _resolvers.get(parsed.kind) if parsed is not None else None
    if resolver is None:
        raise not_found(RESOURCE, arn)
    return resolver(ctx, arn, action)


def checked_tags(tags: list[dict[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for index, tag in enumerate(tags):
        if tag.get("Key") is None or tag.get("Value") is None:
            raise invalid(f"Tags[{index}] needs both Key and Value.", f"Tags[{index}]")
        if tag["Key"] in result:
            raise invalid(f"Tags[{index}] repeats the key {tag['Key']!r}.", f"Tags[{index}].Key")
        result[tag["Key"]] = tag["Value"]
    return result


def list_tags(session: Session, arn: str) -> list[dict[str, str]]:
    rows = session.scalars(
        select(ResourceTag).where(ResourceTag.resource_arn == arn).order_by(ResourceTag.key)
    )
    return [{"Key": row.key, "Value": row.value} for row in rows]


def put_tags(session: Session, account_id: str, arn: str, tags: list[Any]) -> None:
    """Add or replace ``tags`` on ``arn``, keeping the total within MAX_TAGS."""
    new = checked_tags(tags)
    existing = {
        row.key: row
        for row in session.scalars(select(ResourceTag).where(ResourceTag.resource_arn == arn))
    }
    total = len(existing.keys() | new.keys())
    if total > MAX_TAGS:
        raise quota_exceeded(
            f"A resource can have at most {MAX_TAGS} tags; this request would give {arn} "
            f"{total}. Remove tags with UntagResource first.",
            "tags-per-resource",
            RESOURCE,
            arn,
        )
    for key, value in new.items():
        if key in existing:
            existing[key].value = value
        else:
            session.add(ResourceTag(resource_arn=arn, key=key, value=value, account_id=account_id))


def remove_tags(session: Session, arn: str, keys: list[str]) -> None:
    session.execute(
        delete(ResourceTag).where(ResourceTag.resource_arn == arn, ResourceTag.key.in_(keys))
    )


def drop_all_tags(session: Session, arn: str) -> None:
    session.execute(delete(ResourceTag).where(ResourceTag.resource_arn == arn))
