"""iCalendar feeds of on-call shifts at secret URLs, per rotation and per contact.

A feed belongs to one account and names a rotation, a PERSONAL contact (every
shift of every rotation of the account in which the contact is on call) or an
ONCALL_SCHEDULE contact (the shifts of the rotations in its plan). Its URL
carries a random token, and the database stores only the token's SHA-256
digest. The token has 256 bits of entropy, so a plain digest cannot be
reversed or guessed, and lookups need no server key.

Events are computed at each fetch with the same code as ListRotationShifts,
overrides included, over a window from FEED_PAST before now to FEED_FUTURE
after it. Times are written in UTC: the shift computation already yields
instants, so UTC values are exact, and every client shows them in the
viewer's own zone without a VTIMEZONE definition.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration, vText
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.contacts.access import find_contact, find_rotation, parse_arn
from tocsin.contacts.calendar_models import CalendarFeed
from tocsin.contacts.models import Contact
from tocsin.contacts.models import Rotation as RotationRow
from tocsin.contacts.overrides import overrides_between
from tocsin.contacts.plans import ONCALL_SCHEDULE, PERSONAL
from tocsin.contacts.rotations import shift_rotation
from tocsin.contacts.shifts import Shift, shifts_between
from tocsin.iam.models import Account
from tocsin.store.database import Database

logger = logging.getLogger(__name__)

# Window of shifts in a feed, relative to the time of the fetch.
FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=90)
# A fetch updates last_fetched_at only when the stored value is older than
# this, so frequent polling does not turn every GET into a database write.
FETCH_RECORD_INTERVAL = timedelta(minutes=1)
# How often clients are asked to poll (REFRESH-INTERVAL and X-PUBLISHED-TTL).
REFRESH_INTERVAL = timedelta(hours=1)
PRODID = "-//Tocsin//On-call calendar feeds//EN"

TOKEN_BYTES = 32
# secrets.token_urlsafe(32) yields 43 characters of the URL-safe base64 alphabet.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


class CalendarFeedError(ValueError):
    """A feed that cannot be created or found, with a message for the operator."""


@dataclass(frozen=True)
class NewFeed:
    """A created feed and its token, which exists only in this object and the URL."""

    feed: CalendarFeed
    token: str


@dataclass(frozen=True)
class FeedListing:
    """A feed and whether its target rotation or contact still exists."""

    feed: CalendarFeed
    target_exists: bool


@dataclass(frozen=True)
class _Entry:
    """One event of a feed: one contact on call in one shift of one rotation."""

    rotation: RotationRow
    contact_arn: str
    shift: Shift


def token_digest(token: str) -> str:
    """Return the hex SHA-256 digest under which a feed token is stored."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/calendar/{token}.ics"


def create_feed(session: Session, now: datetime, account_id: str, target_arn: str) -> NewFeed:
    """Create a feed of the rotation or contact ``target_arn`` in ``account_id``.

    Raises CalendarFeedError when the account or the target does not exist,
    when the target belongs to another account, or when it is an escalation
    plan, which has no shifts.
    """
    _check_account(session, account_id)
    target = _find_target(session, account_id, target_arn)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = CalendarFeed(
        feed_id=str(uuid.uuid4()),
        account_id=account_id,
        token_digest=token_digest(token),
        target_arn=target.arn,
        target_created_at=target.created_at,
        created_at=now,
        last_fetched_at=None,
    )
    session.add(feed)
    session.flush()
    logger.info(
        "created calendar feed %s of %s in account %s", feed.feed_id, target.arn, account_id
    )
    return NewFeed(feed, token)


def list_feeds(session: Session, account_id: str) -> list[FeedListing]:
    """Return the feeds of ``account_id`` by creation time, each with its target's state."""
    _check_account(session, account_id)
    feeds = session.scalars(
        select(CalendarFeed)
        .where(CalendarFeed.account_id == account_id)
        .order_by(CalendarFeed.created_at, CalendarFeed.feed_id)
    )
    return [FeedListing(feed, feed_target(session, feed) is not None) for feed in feeds]


def revoke_feed(session: Session, account_id: str, feed_id: str) -> CalendarFeed:
    """Delete the feed ``feed_id`` of ``account_id``, so that its URL returns 404 at once."""
    _check_account(session, account_id)
    feed = session.scalar(
        select(CalendarFeed).where(
            CalendarFeed.account_id == account_id, CalendarFeed.feed_id == feed_id.lower()
        )
    )
    if feed is None:
        raise CalendarFeedError(
            f"No calendar feed {feed_id!r} exists in account {account_id}; "
            f"`tocsin calendar list --account-id {account_id}` shows its feeds."
        )
    session.delete(feed)
    logger.info(
        "revoked calendar feed %s of %s in account %s", feed.feed_id, feed.target_arn, account_id
    )
    return feed


def find_feed(session: Session, token: str) -> CalendarFeed | None:
    """Return the feed whose URL carries ``token``, or None for any other text."""
    if not _TOKEN.match(token):
        return None
    digest = token_digest(token)
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.token_digest == digest))
    # Feeds are looked up by digest, never by token, so the lookup's timing
    # reveals nothing about a stored token. compare_digest repeats the match
    # in constant time.
    if feed is None or not hmac.compare_digest(feed.token_digest, digest):
        return None
    return feed


def feed_target(session: Session, feed: CalendarFeed) -> RotationRow | Contact | None:
    """Return the feed's rotation or contact, or None when it has been deleted.

    A resource created again under the same name is another resource, so it
    does not count.
    """
    parsed = parse_arn(feed.target_arn)
    target: RotationRow | Contact | None = None
    if parsed is not None and parsed.kind == "rotation":
        target = find_rotation(session, feed.target_arn)
    elif parsed is not None and parsed.kind == "contact":
        target = find_contact(session, feed.target_arn)
    if target is None or target.created_at != feed.target_created_at:
        return None
    return target


def fetch_feed(database: Database, now: datetime, token: str) -> bytes | None:
    """Return the iCalendar document that ``token`` gives access to, and record the fetch.

    Returns None for a token that no feed has, for a revoked feed and for a
    feed whose target has been deleted, so callers cannot tell them apart.
    """
    with _read_session(database) as session:
        feed = find_feed(session, token)
        if feed is None:
            return None
        body = render_feed(session, feed, now)
        feed_id, last_fetched = feed.feed_id, feed.last_fetched_at
    if body is None:
        return None
    if last_fetched is None or now - last_fetched >= FETCH_RECORD_INTERVAL:
        with database.session() as session:
            record_fetch(session, feed_id, now)
    return body


def record_fetch(session: Session, feed_id: str, now: datetime) -> None:
    """Set the feed's last fetch time, unless another fetch set it less than a minute ago."""
    session.execute(
        update(CalendarFeed)
        .where(
            CalendarFeed.feed_id == feed_id,
            or_(
                CalendarFeed.last_fetched_at.is_(None),
                CalendarFeed.last_fetched_at <= now - FETCH_RECORD_INTERVAL,
            ),
        )
        .values(last_fetched_at=now)
    )


def render_feed(session: Session, feed: CalendarFeed, now: datetime) -> bytes | None:
    """Build the feed's VCALENDAR for the window around ``now``; None if its target is gone."""
    target = feed_target(session, feed)
    if target is None:
        return None
    start, end = now - FEED_PAST, now + FEED_FUTURE

    if isinstance(target, RotationRow):
        name = target.name
        entries = _rotation_entries(session, target, start, end)
        zones = {target.time_zone}
    elif target.type == ONCALL_SCHEDULE:
        name = target.display_name or target.alias
        rotations = _schedule_rotations(session, target)
        entries = [e for row in rotations for e in _rotation_entries(session, row, start, end)]
        zones = {row.time_zone for row in rotations}
    elif target.type == PERSONAL:
        name = target.display_name or target.alias
        entries = _personal_entries(session, target, start, end)
        zones = {entry.rotation.time_zone for entry in entries}
    else:
        # Feeds are created only for the types above, and a contact's type never changes.
        return None

    calendar = _calendar(name, target.arn, zones)
    names = _display_names(session, feed.account_id, {entry.contact_arn for entry in entries})
    entries.sort(key=lambda e: (e.shift.start, e.rotation.name, e.contact_arn))
    for entry in entries:
        calendar.add_component(_event(entry, target.arn, names, now))
    document: bytes = calendar.to_ical()
    return document


def feed_base_url(settings: Settings) -> str:
    """Return the base of feed URLs: the ``public_url`` setting, else http://HOST:PORT."""
    configured = getattr(settings, "public_url", None)
    if configured:
        return str(configured).rstrip("/")
    host = settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _check_account(session: Session, account_id: str) -> None:
    if not _ACCOUNT_ID.match(account_id):
        raise CalendarFeedError(f"Account id {account_id!r} is not a 12-digit account id.")
    if session.get(Account, account_id) is None:
        raise CalendarFeedError(f"No account {account_id} exists in the database.")


def _find_target(session: Session, account_id: str, arn: str) -> RotationRow | Contact:
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind not in ("rotation", "contact"):
        raise CalendarFeedError(
            f"{arn!r} is not a rotation or contact ARN; expected "
            "arn:aws:ssm-contacts:REGION:ACCOUNT:rotation/NAME or "
            "arn:aws:ssm-contacts:REGION:ACCOUNT:contact/ALIAS."
        )
    if parsed.account_id != account_id:
        raise CalendarFeedError(
            f"{arn} belongs to account {parsed.account_id}, not {account_id}; a feed can only "
            "show a rotation or contact of its own account."
        )
    if parsed.kind == "rotation":
        rotation = find_rotation(session, arn)
        if rotation is None:
            raise CalendarFeedError(f"No rotation {arn} exists in account {account_id}.")
        return rotation
    contact = find_contact(session, arn)
    if contact is None:
        raise CalendarFeedError(f"No contact {arn} exists in account {account_id}.")
    if contact.type not in (PERSONAL, ONCALL_SCHEDULE):
        raise CalendarFeedError(
            f"{contact.arn} is an {contact.type} contact, which has no on-call shifts; "
            "name a rotation, a PERSONAL contact or an ONCALL_SCHEDULE contact."
        )
    return contact


@contextmanager
def _read_session(database: Database) -> Iterator[Session]:
    """Yield an ORM session on a read-only transaction, which takes no write lock."""
    with database.read() as connection, Session(bind=connection) as session:
        yield session


def _rotation_entries(
    session: Session, row: RotationRow, start: datetime, end: datetime
) -> list[_Entry]:
    overrides = overrides_between(session, row, start, end)
    try:
        shifts = shifts_between(shift_rotation(row), start, end, overrides)
    except ValueError as exc:
        raise RuntimeError(f"computing the shifts of rotation {row.arn} for a feed") from exc
    return [
        _Entry(row, contact_arn, shift) for shift in shifts for contact_arn in shift.contact_ids
    ]


def _schedule_rotations(session: Session, schedule: Contact) -> list[RotationRow]:
    """Return the rotations in the schedule's plan; ids that name no rotation are skipped."""
    rows = []
    for arn in schedule.plan.get("RotationIds") or []:
        row = find_rotation(session, arn)
        if row is not None and row.account_id == schedule.account_id:
            rows.append(row)
    return rows


def _personal_entries(
    session: Session, contact: Contact, start: datetime, end: datetime
) -> list[_Entry]:
    # Overrides may put a contact on call in a rotation it is not a member of,
    # so every rotation of the account is computed.
    rotations = session.scalars(
        select(RotationRow)
        .where(RotationRow.account_id == contact.account_id)
        .order_by(RotationRow.name)
    )
    return [
        entry
        for row in rotations
        for entry in _rotation_entries(session, row, start, end)
        if entry.contact_arn == contact.arn
    ]


def _display_names(session: Session, account_id: str, arns: set[str]) -> dict[str, str]:
    """Return the display names of the contacts among ``arns`` that have one."""
    if not arns:
        return {}
    contacts = session.scalars(
        select(Contact).where(Contact.account_id == account_id, Contact.arn.in_(sorted(arns)))
    )
    return {contact.arn: contact.display_name for contact in contacts if contact.display_name}


def _calendar(name: str, target_arn: str, zones: set[str]) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", vText(f"On call: {name}"))
    calendar.add(
        "x-wr-caldesc",
        vText(
            f"On-call shifts of {target_arn}, from {FEED_PAST.days} days ago "
            f"to {FEED_FUTURE.days} days ahead."
        ),
    )
    if len(zones) == 1:
        calendar.add("x-wr-timezone", vText(next(iter(zones))))
    calendar.add("refresh-interval", vDuration(REFRESH_INTERVAL), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    return calendar


def _event(entry: _Entry, target_arn: str, names: dict[str, str], now: datetime) -> Event:
    shift = entry.shift
    alias = _alias(entry.contact_arn)
    event = Event()
    event.add("uid", _uid(target_arn, entry))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", f"On call: {alias} ({entry.rotation.name})")
    event.add("description", _description(entry, names))
    # Being on call does not make a person busy, so free/busy lookups ignore the event.
    event.add("transp", "TRANSPARENT")
    return event


def _uid(target_arn: str, entry: _Entry) -> str:
    """Return a UID that stays the same across fetches while the shift's start does not move.

    A client then updates the event in place when its end or details change.
    """
    key = "\n".join(
        (target_arn, entry.rotation.arn, entry.contact_arn, entry.shift.start.isoformat())
    )
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@tocsin"


def _description(entry: _Entry, names: dict[str, str]) -> str:
    shift, rotation = entry.shift, entry.rotation
    zone = ZoneInfo(rotation.time_zone)
    local_start = shift.start.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    local_end = shift.end.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    contact = _alias(entry.contact_arn)
    if entry.contact_arn in names:
        contact = f"{names[entry.contact_arn]} ({contact})"
    lines = [
        f"Contact: {contact}",
        f"Rotation: {rotation.name} ({rotation.arn})",
        f"Local time ({rotation.time_zone}): {local_start} to {local_end}",
    ]
    if shift.type == "OVERRIDDEN":
        replaced = ", ".join(_alias(arn) for arn in shift.overridden_contact_ids) or "nobody"
        lines.append(
            f"This shift comes from an override that replaces the regular on-call contacts: "
            f"{replaced}."
        )
    else:
        lines.append("Regular shift of the rotation.")
    return "\n".join(lines)


def _alias(contact_arn: str) -> str:
    parsed = parse_arn(contact_arn)
    return parsed.parts[0] if parsed is not None and parsed.kind == "contact" else contact_arn
