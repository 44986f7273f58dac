"""Timeline event and related item operations of ssm-incidents."""

from __future__ import annotations

from typing import Any

from tocsin.incidents import related, timeline
from tocsin.incidents.incident_handlers import usable_record
from tocsin.incidents.models import RelatedItem, TimelineEvent
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate_query

handlers = ServiceHandlers("ssm-incidents")

DEFAULT_MAX_RESULTS = 100


@handlers.operation("CreateTimelineEvent")
def create_timeline_event(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    timeline.check_api_type(params["eventType"])
    event = timeline.add(
        ctx.session,
        ctx.clock,
        incident,
        params["eventType"],
        params["eventData"],
        event_time=params["eventTime"],
        references=params.get("eventReferences", []),
    )
    return {"eventId": event.event_id, "incidentRecordArn": incident.arn}


@handlers.operation("GetTimelineEvent")
def get_timeline_event(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    event = timeline.get(ctx.session, incident, params["eventId"])
    return {"event": timeline.describe(event, incident.arn)}


@handlers.operation("UpdateTimelineEvent")
def update_timeline_event(ctx: RequestContext, params: dict[str, Any]) -> None:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    event = timeline.get(ctx.session, incident, params["eventId"])
    timeline.update(ctx.session, ctx.clock, incident, event, params)


@handlers.operation("DeleteTimelineEvent")
def delete_timeline_event(ctx: RequestContext, params: dict[str, Any]) -> None:
    # Idempotent, as the model marks it: deleting a missing event succeeds.
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    event = timeline.find(ctx.session, incident, params["eventId"])
    if event is not None:
        timeline.delete_event(ctx.session, incident, event)


@handlers.operation("ListTimelineEvents")
def list_timeline_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    page = paginate_query(
        ctx.session,
        timeline.list_query(incident, params.get("filters", [])),
        order_by=(TimelineEvent.event_time, TimelineEvent.id),
        # AWS does not document the default order. Oldest first puts the
        # first trigger at index 0, which runbooks that read it expect.
        descending=params.get("sortOrder", "ASCENDING") == "DESCENDING",
        max_results=params.get("maxResults", DEFAULT_MAX_RESULTS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, listing_filters(params)),
    )
    output: dict[str, Any] = {
        "eventSummaries": [timeline.summarize(event, incident.arn) for event in page.items]
    }
    if page.next_token:
        output["nextToken"] = page.next_token
    return output


@handlers.operation("UpdateRelatedItems")
def update_related_items(ctx: RequestContext, params: dict[str, Any]) -> None:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    change = params["relatedItemsUpdate"]
    if "itemToAdd" in change:
        related.add_by_request(
            ctx.session, ctx.clock, incident, change["itemToAdd"], ctx.caller.arn
        )
    else:
        related.remove_by_request(
            ctx.session, ctx.clock, incident, change["itemToRemove"], ctx.caller.arn
        )


@handlers.operation("ListRelatedItems")
def list_related_items(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    page = paginate_query(
        ctx.session,
        related.list_query(incident),
        order_by=(RelatedItem.id,),
        max_results=params.get("maxResults", DEFAULT_MAX_RESULTS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, listing_filters(params)),
    )
    output: dict[str, Any] = {"relatedItems": [related.describe(item) for item in page.items]}
    if page.next_token:
        output["nextToken"] = page.next_token
    return output
