"""Pages: the engagement of one personal contact through the stages of its own plan.

A page starts when an engagement reaches a personal contact. Stage j of the
contact's plan starts at the sum of the durations of the stages before it,
counted from the page's start, and sends to each of its channels through a
``PAGE_SEND_JOB``. Each message carries the page's accept code and a signed
acknowledgement link. An acknowledgement (a READ receipt) stops the page's
remaining stages, and an essential one ends the engagement's escalation too.

SMS and voice sends are coalesced: when one runs, the other channel stages of
the same engagement that are due, not yet sent and go to the same channel
type and address travel in the same message (``due_sends_to_same_address``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import parse_arn
from tocsin.contacts.channels import ACTIVATED
from tocsin.contacts.engagement_models import Engagement, Page, PageReceipt
from tocsin.contacts.errors import invalid
from tocsin.contacts.models import ContactChannel
from tocsin.engine.clock import Clock
from tocsin.engine.queue import cancel
from tocsin.iam.crypto import SecretBox

logger = logging.getLogger(__name__)

PAGE_SEND_JOB = "contacts.page_send"

ACCEPT_CODE_DIGITS = 6
# Purpose string of the key from which accept codes are derived.
ACCEPT_CODE_KEY_PURPOSE = "accept-code"
# The ``accept_code`` value of a page whose code is derived from its page id
# with ``derive_accept_code``. Pages created before this scheme store their
# code as a Fernet token, which never equals this value.
DERIVED_ACCEPT_CODE = "derived:hmac-sha256:v1"
# Purpose string of the key that signs acknowledgement links.
ACK_KEY_PURPOSE = "acknowledge"
ACK_MAC_BYTES = 16

SENT, DELIVERED, READ, ERROR, STOP = "SENT", "DELIVERED", "READ", "ERROR", "STOP"
MAX_RECEIPT_INFO = 2048
MAX_SUBJECT = 255
# Channel types whose due sends to one address within one engagement go out as one message.
COALESCED_CHANNEL_TYPES = frozenset({"SMS", "VOICE"})

_PAGE_ARN = re.compile(
    r"^arn:aws:ssm-contacts:[a-z0-9-]*:(?P<account>\d{12}):page/(?P<alias>[a-z0-9_\-]{1,255})/"
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def page_arn(contact_arn: str, alias: str, page_id: str) -> str:
    region, account_id = contact_arn.split(":")[3:5]
    return f"arn:aws:ssm-contacts:{region}:{account_id}:page/{alias}/{page_id}"


def find_page(session: Session, arn: str, *, lock: bool = False) -> Page | None:
    """Return the page that ``arn`` names in any Region, or None."""
    match = _PAGE_ARN.match(arn)
    if match is None:
        return None
    query = select(Page).where(Page.page_id == match["id"])
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    page = session.scalar(query)
    if page is None or page.account_id != match["account"] or f"/{match['alias']}/" not in page.arn:
        return None
    return page


def send_job_key(page_id: str, stage_index: int, channel_id: str, attempt: int) -> str:
    """Return the job key of one send attempt of a channel stage of a page."""
    return f"contacts:page:{page_id}:stage:{stage_index}:channel:{channel_id}:try:{attempt}"


def send_key(engagement: Engagement, page: Page, channel_id: str, stage_index: int) -> str:
    """Return the idempotency key of one channel stage of a page, the same for every attempt."""
    return f"tocsin-page-{engagement.engagement_id}-{page.page_id}-{channel_id}-{stage_index}"


@dataclass(frozen=True)
class PendingSend:
    """One channel stage of a page that a message is about to cover."""

    page: Page
    stage_index: int
    channel: ContactChannel
    key: str


def combined_send_key(sends: Sequence[PendingSend]) -> str:
    """Return the idempotency key of one message that covers ``sends``.

    A single send keeps its own key. For several, the key is the lowest of
    their keys (lowest page id, then channel and stage) followed by a digest
    of all of them. A retry that covers the same sends therefore carries the
    same key, and a message that covers a different set gets a new one.
    """
    keys = sorted(send.key for send in sends)
    if len(keys) == 1:
        return keys[0]
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    return f"{keys[0]}-combined-{digest}"


def due_sends_to_same_address(
    session: Session, engagement: Engagement, own: PendingSend, now: datetime
) -> list[PendingSend]:
    """Return the other channel stages of the engagement that may share ``own``'s message.

    They are the channel stages of the engagement's pages that have started
    by ``now`` and target an activated channel of the paged contact with the
    same type and address as ``own``. Pages that were read or stopped are
    left out. The caller drops those already sent.
    """
    targets: list[tuple[Page, int, str]] = []
    pages = session.scalars(select(Page).where(Page.engagement_arn == engagement.arn))
    for page in pages:
        if not is_active(page, engagement):
            continue
        for stage_index, offset in enumerate(stage_offsets(page.stages)):
            if page.start_time + offset > now:
                continue
            for info in channel_targets(page.stages[stage_index]):
                channel_id = info["ContactChannelId"].rsplit("/", 1)[-1]
                is_own = (page.page_id, stage_index, channel_id) == (
                    own.page.page_id,
                    own.stage_index,
                    own.channel.channel_id,
                )
                if not is_own:
                    targets.append((page, stage_index, channel_id))
    if not targets:
        return []

    query = select(ContactChannel).where(
        ContactChannel.channel_id.in_({channel_id for _, _, channel_id in targets}),
        ContactChannel.type == own.channel.type,
        ContactChannel.address == own.channel.address,
        ContactChannel.activation_status == ACTIVATED,
    )
    channels = {channel.channel_id: channel for channel in session.scalars(query)}
    found: dict[str, PendingSend] = {}
    for page, stage_index, channel_id in targets:
        channel = channels.get(channel_id)
        if channel is None or channel.contact_arn != page.contact_arn:
            continue
        key = send_key(engagement, page, channel_id, stage_index)
        found[key] = PendingSend(page, stage_index, channel, key)
    return list(found.values())


def stage_offsets(stages: list[dict[str, Any]]) -> list[timedelta]:
    """Return when each stage starts, counted from the start of its plan."""
    offsets: list[timedelta] = []
    elapsed = timedelta(0)
    for stage in stages:
        offsets.append(elapsed)
        elapsed += timedelta(minutes=stage.get("DurationInMinutes") or 0)
    return offsets


def channel_targets(stage: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the ChannelTargetInfo items of a stage whose ARN names a contact channel."""
    found = []
    for target in stage.get("Targets") or []:
        info = target.get("ChannelTargetInfo")
        parsed = parse_arn(info["ContactChannelId"]) if info else None
        if info and parsed is not None and parsed.kind == "contact-channel":
            found.append(info)
    return found


def cancel_sends(session: Session, clock: Clock, page: Page) -> int:
    """Cancel the first send of every channel stage of ``page``; return how many were pending.

    Retries of failed sends are not cancelled here, because each retry checks
    the page's state before it sends.
    """
    cancelled = 0
    for stage_index, stage in enumerate(page.stages):
        for info in channel_targets(stage):
            channel_id = info["ContactChannelId"].rsplit("/", 1)[-1]
            key = send_job_key(page.page_id, stage_index, channel_id, 1)
            cancelled += cancel(session, key, clock=clock)
    return cancelled


def is_active(page: Page, engagement: Engagement) -> bool:
    """Return whether the page may still send: neither read nor stopped."""
    return page.read_time is None and page.stop_time is None and engagement.stop_time is None


def add_receipt(
    session: Session,
    clock: Clock,
    page: Page,
    receipt_type: str,
    *,
    channel_arn: str | None = None,
    info: str | None = None,
    send_key: str | None = None,
) -> PageReceipt:
    receipt = PageReceipt(
        page_arn=page.arn,
        channel_arn=channel_arn,
        receipt_type=receipt_type,
        receipt_info=info[:MAX_RECEIPT_INFO] if info else None,
        receipt_time=clock.now(),
        send_key=send_key,
    )
    session.add(receipt)
    return receipt


def stop_page(session: Session, clock: Clock, page: Page) -> bool:
    """Write a STOP receipt on a page that is not read or stopped; return whether it did."""
    if page.read_time is not None or page.stop_time is not None:
        return False
    page.stop_time = clock.now()
    add_receipt(session, clock, page, STOP)
    return True


def derive_accept_code(key: bytes, page_id: str) -> str:
    """Return the accept code of page ``page_id``: digits of HMAC-SHA256 over the id.

    ``key`` is ``box.derive(ACCEPT_CODE_KEY_PURPOSE)``. Without the server's
    secret key the code cannot be computed from the page id, which the page's
    ARN makes public, and nothing of the code is stored. The modulo bias of
    64 bits reduced to 6 digits is below 1e-13.
    """
    digest = hmac.new(key, page_id.encode("ascii"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") % 10**ACCEPT_CODE_DIGITS
    return f"{number:0{ACCEPT_CODE_DIGITS}d}"


def accept_code(box: SecretBox, page: Page) -> str:
    """Return the page's accept code, derived from its id or decrypted from an older row."""
    if page.accept_code == DERIVED_ACCEPT_CODE:
        return derive_accept_code(box.derive(ACCEPT_CODE_KEY_PURPOSE), page.page_id)
    return box.decrypt(page.accept_code)


def check_accept(box: SecretBox, page: Page, params: Mapping[str, Any]) -> str | None:
    """Check AcceptPage's channel and code against ``page``; return the channel ARN or None.

    Raises ValidationException for a channel of another contact, and for a
    wrong AcceptCode when AcceptCodeValidation is ENFORCE.
    """
    channel_arn: str | None = params.get("ContactChannelId")
    if channel_arn is not None:
        parsed = parse_arn(channel_arn)
        page_alias = page.contact_arn.rsplit("/", 1)[-1]
        if (
            parsed is None
            or parsed.kind != "contact-channel"
            or parsed.account_id != page.account_id
            or parsed.parts[0] != page_alias
        ):
            raise invalid(
                f"ContactChannelId {channel_arn} is not a contact channel of {page.contact_arn}, "
                f"the contact that page {page.arn} engages.",
                "ContactChannelId",
            )
    enforced = params.get("AcceptCodeValidation") == "ENFORCE"
    if enforced and not hmac.compare_digest(params["AcceptCode"], accept_code(box, page)):
        raise invalid(
            f"AcceptCode does not match the code sent with page {page.arn}.", "AcceptCode"
        )
    return channel_arn


def record_accept(
    session: Session,
    clock: Clock,
    page: Page,
    accept_type: str,
    *,
    channel_arn: str | None,
    info: str | None,
) -> bool:
    """Write a DELIVERED or READ receipt; return whether it was the page's first READ."""
    now = clock.now()
    add_receipt(session, clock, page, accept_type, channel_arn=channel_arn, info=info)
    if page.delivery_time is None:
        # A message that was read was delivered, so READ sets DeliveryTime too.
        page.delivery_time = now
    if accept_type != READ or page.read_time is not None:
        return False
    page.read_time = now
    logger.info("page %s was acknowledged through %s", page.arn, channel_arn or "the API")
    return True


def sign_ack_token(box: SecretBox, page: Page, channel_id: str) -> str:
    """Return the token of the acknowledgement link of ``page`` sent to channel ``channel_id``."""
    body = uuid.UUID(page.page_id).bytes + uuid.UUID(channel_id).bytes
    mac = hmac.new(box.derive(ACK_KEY_PURPOSE), body, hashlib.sha256).digest()[:ACK_MAC_BYTES]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode("ascii")


def read_ack_token(box: SecretBox, token: str) -> tuple[str, str] | None:
    """Return (page id, channel id) of a token that ``sign_ack_token`` made, else None."""
    if not token.isascii() or len(token) > 100:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32 + ACK_MAC_BYTES:
        return None
    body, mac = raw[:32], raw[32:]
    expected = hmac.new(box.derive(ACK_KEY_PURPOSE), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected[:ACK_MAC_BYTES]):
        return None
    return str(uuid.UUID(bytes=body[:16])), str(uuid.UUID(bytes=body[16:]))


def find_page_by_id(session: Session, page_id: str) -> Page | None:
    return session.scalar(select(Page).where(Page.page_id == page_id))


def message_text(
    engagement: Engagement, channel_type: str, code: str, ack_url: str
) -> tuple[str, str]:
    """Return the subject and body of a page sent over a channel of ``channel_type``."""
    subject, content = _subject_and_content(engagement, channel_type)
    body = (
        f"{content}\n\nSent by {engagement.sender}.\nAccept code: {code}\nAcknowledge: {ack_url}\n"
    )
    return subject, body


def _subject_and_content(engagement: Engagement, channel_type: str) -> tuple[str, str]:
    """Return the subject and content that a channel of ``channel_type`` carries.

    SMS carries PublicSubject and PublicContent when the engagement has them,
    and Subject and Content otherwise; email and voice carry Subject and Content.
    """
    subject, content = engagement.subject, engagement.content
    if channel_type == "SMS":
        subject = engagement.public_subject or subject
        content = engagement.public_content or content
    # Subjects are cut to 255 characters, the length that mail clients and
    # the development outbox keep.
    return subject[:MAX_SUBJECT], content


def combined_message_text(
    engagement: Engagement, channel_type: str, pages: Sequence[tuple[str, str, str]]
) -> tuple[str, str]:
    """Return the subject and body of one message that covers several pages of an engagement.

    ``pages`` contains (paged contact's alias, accept code, acknowledgement link)
    for each page. The body states how many pages the message covers and gives
    each page's accept code and link, so each page is acknowledged on its own.
    """
    subject, content = _subject_and_content(engagement, channel_type)
    lines = [
        content,
        "",
        f"Sent by {engagement.sender}.",
        f"This message covers {len(pages)} pages.",
    ]
    for alias, code, ack_url in pages:
        lines += ["", f"Page for {alias}:", f"Accept code: {code}", f"Acknowledge: {ack_url}"]
    return subject, "\n".join(lines) + "\n"
