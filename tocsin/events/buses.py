"""Event buses: names and ARNs, the default bus of every account, creation and deletion.

Every account has a ``default`` bus in every Region. It exists without a row
until something is stored on it (a permission), so reading it never writes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events.errors import (
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from tocsin.events.models import EventBus, EventRule

logger = logging.getLogger(__name__)

DEFAULT_BUS = "default"
BUS_ARN = re.compile(r"^arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus/([/.\-_A-Za-z0-9]+)$")


@dataclass(frozen=True)
class BusRef:
    """The account, Region and name that identify one event bus."""

    account_id: str
    region: str
    name: str

    @property
    def arn(self) -> str:
        return bus_arn(self.account_id, self.region, self.name)


def bus_arn(account_id: str, region: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:event-bus/{name}"


def parse_bus_arn(arn: str) -> BusRef | None:
    """Return the bus that ``arn`` names, or None when it is not an event bus ARN."""
    match = BUS_ARN.match(arn)
    if match is None:
        return None
    region, account_id, name = match.groups()
    return BusRef(account_id, region, name)


def resolve(account_id: str, region: str, name_or_arn: str | None) -> BusRef:
    """Return the bus named by an EventBusName member: a name, an ARN, or None for default."""
    if not name_or_arn:
        return BusRef(account_id, region, DEFAULT_BUS)
    if name_or_arn.startswith("arn:"):
        ref = parse_bus_arn(name_or_arn)
        if ref is None:
            raise ValidationException(
                f"Parameter EventBusName is not valid: {name_or_arn!r} is not an event bus ARN"
            )
        return ref
    return BusRef(account_id, region, name_or_arn)


def find(session: Session, ref: BusRef) -> EventBus | None:
    """Return the stored bus of ``ref``, or None (also for a default bus without a row)."""
    return session.get(EventBus, ref.arn)


def get(session: Session, clock: Clock, ref: BusRef) -> EventBus:
    """Return the bus of ``ref``, an unsaved row for a default bus, or raise ResourceNotFound."""
    bus = find(session, ref)
    if bus is not None:
        return bus
    if ref.name == DEFAULT_BUS:
        now = clock.now()
        return EventBus(
            arn=ref.arn,
            account_id=ref.account_id,
            region=ref.region,
            name=DEFAULT_BUS,
            description=None,
            policy=None,
            created_at=now,
            last_modified_at=now,
        )
    raise ResourceNotFoundException(f"Event bus {ref.name} does not exist.")


def exists(session: Session, ref: BusRef) -> bool:
    return ref.name == DEFAULT_BUS or find(session, ref) is not None


def stored(session: Session, clock: Clock, ref: BusRef) -> EventBus:
    """Return the bus of ``ref`` with a row in the session, adding one for a default bus."""
    bus = get(session, clock, ref)
    if find(session, ref) is None:
        session.add(bus)
        session.flush()
    return bus


def create(session: Session, clock: Clock, ref: BusRef, description: str | None) -> EventBus:
    if ref.name == DEFAULT_BUS:
        raise ValidationException(
            "Parameter Name is not valid: default is the name of the account's default "
            "event bus; choose another name"
        )
    if "/" in ref.name:
        raise ValidationException(
            f"Parameter Name is not valid: {ref.name!r} contains '/', which only partner "
            "event buses may use"
        )
    if find(session, ref) is not None:
        raise ResourceAlreadyExistsException(f"Event bus {ref.name} already exists.")
    now = clock.now()
    bus = EventBus(
        arn=ref.arn,
        account_id=ref.account_id,
        region=ref.region,
        name=ref.name,
        description=description,
        policy=None,
        created_at=now,
        last_modified_at=now,
    )
    session.add(bus)
    session.flush()
    logger.info("created event bus %s", bus.arn)
    return bus


def delete(session: Session, ref: BusRef) -> None:
    """Delete a custom bus; deleting one that does not exist succeeds, as in EventBridge.

    The EventBridge API reference states that the rules of a bus must be
    deleted before the bus, so a bus with rules is rejected and no rule or
    target is lost silently.
    """
    if ref.name == DEFAULT_BUS:
        raise ValidationException("Cannot delete event bus default.")
    bus = find(session, ref)
    if bus is None:
        return
    rules = session.scalar(
        select(func.count())
        .select_from(EventRule)
        .where(
            EventRule.account_id == ref.account_id,
            EventRule.region == ref.region,
            EventRule.bus_name == ref.name,
        )
    )
    if rules:
        raise ValidationException(
            f"Event bus {ref.name} still has {rules} rule(s); delete them before the bus."
        )
    session.delete(bus)
    logger.info("deleted event bus %s", bus.arn)


def list_buses(
    session: Session, clock: Clock, account_id: str, region: str, prefix: str | None
) -> list[EventBus]:
    """Return the account's buses in the Region, the default bus included, sorted by name."""
    rows = list(
        session.scalars(
            select(EventBus).where(EventBus.account_id == account_id, EventBus.region == region)
        )
    )
    if all(bus.name != DEFAULT_BUS for bus in rows):
        rows.append(get(session, clock, BusRef(account_id, region, DEFAULT_BUS)))
    if prefix:
        rows = [bus for bus in rows if bus.name.startswith(prefix)]
    return sorted(rows, key=lambda bus: bus.name)


def describe(bus: EventBus) -> dict[str, object]:
    """Return DescribeEventBus's output (and a ListEventBuses entry) for ``bus``."""
    output: dict[str, object] = {
        "Name": bus.name,
        "Arn": bus.arn,
        "CreationTime": bus.created_at,
        "LastModifiedTime": bus.last_modified_at,
    }
    if bus.description:
        output["Description"] = bus.description
    if bus.policy:
        output["Policy"] = bus.policy
    return output
