"""ssm-contacts operations on engagements, pages, receipts and acknowledgements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from tocsin.contacts import engagements
from tocsin.contacts.access import CONSUMER_ACTIONS, authorized_contact, find_contact, visible_to
from tocsin.contacts.engagement_models import Engagement, Page, PageReceipt
from tocsin.contacts.errors import invalid, not_found
from tocsin.contacts.pages import find_page
from tocsin.contacts.plans import PERSONAL
from tocsin.protocol.errors import AccessDeniedException, ResourceNotFoundException
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate, paginate_query

handlers = ServiceHandlers("ssm-contacts")

DEFAULT_PAGE_SIZE = 100
# Values of ResourceType in ResourceNotFoundException for these resources.
ENGAGEMENT = "ENGAGEMENT"
PAGE = "PAGE"


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _engagement(ctx: RequestContext, arn: str) -> Engagement:
    """Return engagement ``arn`` after checking that the caller may perform the operation.

    The contact's owner account may, and so may an account that the contact
    is shared with, for the consumer actions. Everyone else gets
    ResourceNotFoundException.
    """
    action = f"ssm-contacts:{ctx.operation}"
    engagement = engagements.find_engagement(ctx.session, arn)
    if engagement is None:
        raise not_found(ENGAGEMENT, arn)
    if engagement.account_id == ctx.account_id:
        ctx.authorize(action, engagement.arn)
        return engagement
    if action not in CONSUMER_ACTIONS:
        raise not_found(ENGAGEMENT, arn)
    try:
        authorized_contact(ctx, ctx.session, engagement.contact_arn, action, owner_only=False)
    except ResourceNotFoundException:
        raise not_found(ENGAGEMENT, arn) from None
    return engagement


def _page(ctx: RequestContext, arn: str) -> tuple[Page, Engagement]:
    """Return page ``arn`` and its engagement for the account of the page or the engagement."""
    page = find_page(ctx.session, arn)
    engagement = ctx.session.get(Engagement, page.engagement_arn) if page is not None else None
    if page is None or engagement is None:
        raise not_found(PAGE, arn)
    if ctx.account_id not in (page.account_id, engagement.account_id):
        shared = (
            find_contact(ctx.session, engagement.contact_arn),
            find_contact(ctx.session, page.contact_arn),
        )
        if any(contact is not None and visible_to(ctx, contact) for contact in shared):
            raise AccessDeniedException(
                f"Only account {page.account_id}, the owner of page {page.arn}, may call "
                f"{ctx.operation}; accounts that a contact is shared with may list its pages "
                "but not read or acknowledge them one by one."
            )
        raise not_found(PAGE, arn)
    ctx.authorize(f"ssm-contacts:{ctx.operation}", page.arn)
    return page, engagement


def _engagement_summary(engagement: Engagement) -> dict[str, Any]:
    return _present(
        {
            "EngagementArn": engagement.arn,
            "ContactArn": engagement.contact_arn,
            "Sender": engagement.sender,
            "IncidentId": engagement.incident_id,
            "StartTime": engagement.start_time,
            "StopTime": engagement.stop_time,
        }
    )


def _page_summary(page: Page, engagement: Engagement) -> dict[str, Any]:
    return _present(
        {
            "PageArn": page.arn,
            "EngagementArn": engagement.arn,
            "ContactArn": page.contact_arn,
            "Sender": engagement.sender,
            "IncidentId": engagement.incident_id,
            "SentTime": page.sent_time,
            "DeliveryTime": page.delivery_time,
            "ReadTime": page.read_time,
        }
    )


def _messages(engagement: Engagement) -> dict[str, Any]:
    return _present(
        {
            "Subject": engagement.subject,
            "Content": engagement.content,
            "PublicSubject": engagement.public_subject,
            "PublicContent": engagement.public_content,
        }
    )


def _pages_output(ctx: RequestContext, items: list[Page], next_token: str | None) -> dict[str, Any]:
    pages = []
    for page in items:
        engagement = ctx.session.get(Engagement, page.engagement_arn)
        if engagement is not None:
            pages.append(_page_summary(page, engagement))
    return _present({"Pages": pages, "NextToken": next_token})


def _scope(ctx: RequestContext, params: dict[str, Any]) -> str:
    return page_scope(ctx.account_id, "ssm-contacts", ctx.operation, listing_filters(params))


@handlers.operation("StartEngagement")
def start_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = authorized_contact(
        ctx, ctx.session, params["ContactId"], "ssm-contacts:StartEngagement", owner_only=False
    )
    engagement = engagements.start_engagement(
        ctx.session, ctx.clock, contact, params, started_by=ctx.account_id
    )
    return {"EngagementArn": engagement.arn}


@handlers.operation("StopEngagement")
def stop_engagement(ctx: RequestContext, params: dict[str, Any]) -> None:
    engagement = _engagement(ctx, params["EngagementId"])
    engagements.stop_engagement(ctx.session, ctx.clock, engagement, params.get("Reason"))


@handlers.operation("DescribeEngagement")
def describe_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engagement = _engagement(ctx, params["EngagementId"])
    return {**_engagement_summary(engagement), **_messages(engagement)}


@handlers.operation("ListEngagements")
def list_engagements(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-contacts:ListEngagements", "*")
    query = select(Engagement)
    shared = _shared_contact_arns(ctx)
    if shared:
        query = query.where(
            or_(Engagement.account_id == ctx.account_id, Engagement.contact_arn.in_(shared))
        )
    else:
        query = query.where(Engagement.account_id == ctx.account_id)

    if params.get("IncidentId"):
        query = query.where(Engagement.incident_id == params["IncidentId"])
    window = params.get("TimeRangeValue") or {}
    start, end = window.get("StartTime"), window.get("EndTime")
    if start is not None and end is not None and end < start:
        raise invalid(
            f"TimeRangeValue.EndTime {end.isoformat()} is before TimeRangeValue.StartTime "
            f"{start.isoformat()}.",
            "TimeRangeValue.EndTime",
        )
    if start is not None:
        query = query.where(Engagement.start_time >= start)
    if end is not None:
        query = query.where(Engagement.start_time <= end)

    page = paginate_query(
        ctx.session,
        query,
        order_by=(Engagement.start_time, Engagement.arn),
        descending=True,
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=_scope(ctx, params),
    )
    items = [_engagement_summary(engagement) for engagement in page.items]
    return _present({"Engagements": items, "NextToken": page.next_token})


def _shared_contact_arns(ctx: RequestContext) -> list[str]:
    """Return the engaged contacts of other accounts that are shared with the caller.

    NOTE: each listing evaluates the policy of every contact of another
    account that has engagements; an index of shares would replace this.
    """
    engaged = ctx.session.scalars(
        select(Engagement.contact_arn).where(Engagement.account_id != ctx.account_id).distinct()
    )
    shared = []
    for arn in engaged:
        contact = find_contact(ctx.session, arn)
        if contact is not None and visible_to(ctx, contact):
            shared.append(arn)
    return shared


@handlers.operation("DescribePage")
def describe_page(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page, engagement = _page(ctx, params["PageId"])
    return {**_page_summary(page, engagement), **_messages(engagement)}


@handlers.operation("ListPagesByContact")
def list_pages_by_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = authorized_contact(
        ctx, ctx.session, params["ContactId"], "ssm-contacts:ListPagesByContact", owner_only=False
    )
    if contact.type != PERSONAL:
        raise invalid(
            f"ContactId {contact.arn} has type {contact.type}; pages go to PERSONAL "
            "contacts, so list the pages of its engagements with ListPagesByEngagement.",
            "ContactId",
        )
    page = paginate_query(
        ctx.session,
        select(Page).where(Page.contact_arn == contact.arn),
        order_by=(Page.start_time, Page.arn),
        descending=True,
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=_scope(ctx, {**params, "ContactId": contact.arn}),
    )
    return _pages_output(ctx, page.items, page.next_token)


@handlers.operation("ListPagesByEngagement")
def list_pages_by_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engagement = _engagement(ctx, params["EngagementId"])
    page = paginate_query(
        ctx.session,
        select(Page).where(Page.engagement_arn == engagement.arn),
        order_by=(Page.start_time, Page.arn),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=_scope(ctx, {**params, "EngagementId": engagement.arn}),
    )
    return _pages_output(ctx, page.items, page.next_token)


@handlers.operation("ListPageReceipts")
def list_page_receipts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page, _ = _page(ctx, params["PageId"])
    listing = paginate_query(
        ctx.session,
        select(PageReceipt).where(PageReceipt.page_arn == page.arn),
        order_by=(PageReceipt.id,),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=_scope(ctx, {**params, "PageId": page.arn}),
    )
    receipts = [
        _present(
            {
                "ContactChannelArn": receipt.channel_arn,
                "ReceiptType": receipt.receipt_type,
                "ReceiptInfo": receipt.receipt_info,
                "ReceiptTime": receipt.receipt_time,
            }
        )
        for receipt in listing.items
    ]
    return _present({"Receipts": receipts, "NextToken": listing.next_token})


@handlers.operation("ListPageResolutions")
def list_page_resolutions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page, _ = _page(ctx, params["PageId"])
    steps = list(enumerate(page.resolution))
    listing = paginate(
        steps,
        key=lambda item: (item[0],),
        max_results=DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=_scope(ctx, {**params, "PageId": page.arn}),
    )
    resolutions = [dict(step) for _, step in listing.items]
    return _present({"PageResolutions": resolutions, "NextToken": listing.next_token})


@handlers.operation("AcceptPage")
def accept_page(ctx: RequestContext, params: dict[str, Any]) -> None:
    page, _ = _page(ctx, params["PageId"])
    engagements.accept_page(ctx.session, ctx.clock, ctx.runtime.secrets, page, params)
