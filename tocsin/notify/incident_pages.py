"""Acknowledgement links of an incident's open pages, for the messages about the incident."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.engagement_models import Engagement, Page
from tocsin.contacts.pages import channel_targets, is_active, sign_ack_token
from tocsin.iam.crypto import SecretBox
from tocsin.incidents.models import IncidentRecord
from tocsin.notify.incident_messages import AckLink

# Links listed in one message at most, so a large escalation keeps messages short.
MAX_ACK_LINKS = 10


def ack_links(
    session: Session, box: SecretBox, incident: IncidentRecord, base_url: str
) -> list[AckLink]:
    """Return the acknowledgement links of the incident's pages that are neither read nor stopped.

    A link signs the page together with the first contact channel of the
    page's plan, as a link in a page message signs the channel it went to. A
    page whose plan has no channel gets no link. Pages are in start order.
    """
    rows = session.execute(
        select(Page, Engagement)
        .join(Engagement, Page.engagement_arn == Engagement.arn)
        .where(Engagement.incident_id == incident.arn)
        .order_by(Page.start_time, Page.arn)
    ).all()
    links = []
    for page, engagement in rows:
        if not is_active(page, engagement):
            continue
        channels = [info for stage in page.stages for info in channel_targets(stage)]
        if not channels:
            continue
        channel_id = channels[0]["ContactChannelId"].rsplit("/", 1)[-1]
        token = sign_ack_token(box, page, channel_id)
        links.append(AckLink(page.contact_arn, page.arn, f"{base_url}/ack/{token}"))
        if len(links) == MAX_ACK_LINKS:
            break
    return links
