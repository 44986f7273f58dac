"""EventBridge operations on event buses: buses, permissions, PutEvents and TestEventPattern."""

from __future__ import annotations

import json
from typing import Any

from tocsin.events import buses, ingest, listing, permissions
from tocsin.events.errors import (
    InvalidEventPatternException,
    ResourceNotFoundException,
    ValidationException,
)
from tocsin.events.patterns import InvalidEvent, InvalidEventPattern, compile_pattern, parse_event
from tocsin.protocol.handlers import RequestContext, ServiceHandlers

handlers = ServiceHandlers("events")

# CreateEventBus members that Tocsin does not implement.
UNSUPPORTED_BUS_MEMBERS = (
    "EventSourceName",
    "KmsKeyIdentifier",
    "DeadLetterConfig",
    "LogConfig",
    "Tags",
)


def _own_bus(ctx: RequestContext, name_or_arn: str | None) -> buses.BusRef:
    ref = buses.resolve(ctx.account_id, ctx.region, name_or_arn)
    if ref.account_id != ctx.account_id or ref.region != ctx.region:
        raise ResourceNotFoundException(f"Event bus {ref.name} does not exist.")
    return ref


@handlers.operation("CreateEventBus")
def create_event_bus(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for member in UNSUPPORTED_BUS_MEMBERS:
        if params.get(member):
            raise ValidationException(
                f"Parameter {member} is not supported by this server; create the bus without it"
            )
    ref = buses.BusRef(ctx.account_id, ctx.region, params["Name"])
    ctx.authorize("events:CreateEventBus", ref.arn)
    bus = buses.create(ctx.session, ctx.clock, ref, params.get("Description"))
    output: dict[str, Any] = {"EventBusArn": bus.arn}
    if bus.description:
        output["Description"] = bus.description
    return output


@handlers.operation("DeleteEventBus")
def delete_event_bus(ctx: RequestContext, params: dict[str, Any]) -> None:
    ref = buses.BusRef(ctx.account_id, ctx.region, params["Name"])
    ctx.authorize("events:DeleteEventBus", ref.arn)
    buses.delete(ctx.session, ref)


@handlers.operation("DescribeEventBus", read_only=True)
def describe_event_bus(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _own_bus(ctx, params.get("Name"))
    ctx.authorize("events:DescribeEventBus", ref.arn)
    return buses.describe(buses.get(ctx.session, ctx.clock, ref))


@handlers.operation("ListEventBuses", read_only=True)
def list_event_buses(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize(
        "events:ListEventBuses", f"arn:aws:events:{ctx.region}:{ctx.account_id}:event-bus/*"
    )
    found = buses.list_buses(
        ctx.session, ctx.clock, ctx.account_id, ctx.region, params.get("NamePrefix")
    )
    items, more = listing.page(ctx, params, found, lambda bus: bus.name)
    return {"EventBuses": [buses.describe(bus) for bus in items], **more}


@handlers.operation("PutPermission")
def put_permission(ctx: RequestContext, params: dict[str, Any]) -> None:
    ref = _own_bus(ctx, params.get("EventBusName"))
    ctx.authorize("events:PutPermission", ref.arn)
    bus = buses.stored(ctx.session, ctx.clock, ref)
    if params.get("Policy"):
        combined = [
            name for name in ("Action", "Principal", "StatementId", "Condition") if name in params
        ]
        if combined:
            raise ValidationException(
                f"Parameter Policy cannot be combined with {', '.join(combined)}; give either a "
                "whole policy or one statement"
            )
        permissions.put_policy(bus, ctx.clock, params["Policy"])
        return
    missing = [name for name in ("Action", "Principal", "StatementId") if not params.get(name)]
    if missing:
        raise ValidationException(
            f"Parameter(s) {', '.join(missing)} must be specified when Policy is not given."
        )
    new = permissions.statement(
        bus,
        action=params["Action"],
        principal=params["Principal"],
        statement_id=params["StatementId"],
        condition=params.get("Condition"),
    )
    permissions.put_statement(bus, ctx.clock, new)


@handlers.operation("RemovePermission")
def remove_permission(ctx: RequestContext, params: dict[str, Any]) -> None:
    ref = _own_bus(ctx, params.get("EventBusName"))
    ctx.authorize("events:RemovePermission", ref.arn)
    bus = buses.get(ctx.session, ctx.clock, ref)
    if buses.find(ctx.session, ref) is None:
        if params.get("RemoveAllPermissions"):
            return
        raise ResourceNotFoundException("EventBus does not have a policy.")
    permissions.remove(
        bus, ctx.clock, params.get("StatementId"), bool(params.get("RemoveAllPermissions"))
    )


def _entry_bus(ctx: RequestContext, entry: dict[str, Any]) -> buses.BusRef:
    """Return the bus of a PutEvents entry, or raise EntryError for one the caller cannot use."""
    name = entry.get("EventBusName")
    try:
        ref = buses.resolve(ctx.account_id, ctx.region, name)
    except ValidationException as exc:
        raise ingest.EntryError("InvalidArgument", exc.message) from exc
    if ref.region != ctx.region or not buses.exists(ctx.session, ref):
        raise ingest.EntryError(
            "ResourceNotFoundException", f"Event bus {ref.name} does not exist."
        )
    if ref.account_id != ctx.account_id:
        bus = buses.get(ctx.session, ctx.clock, ref)
        if not permissions.allows_account(ctx.session, bus, ctx.account_id):
            raise ingest.EntryError(
                "AccessDeniedException",
                f"Account {ctx.account_id} is not authorized to put events on {ref.arn}.",
            )
    return ref


def _authorize_put(ctx: RequestContext, ref: buses.BusRef) -> None:
    if ref.account_id == ctx.account_id:
        ctx.authorize("events:PutEvents", ref.arn)
        return
    bus = buses.get(ctx.session, ctx.clock, ref)
    policy = (json.loads(bus.policy),) if bus.policy else ()
    ctx.authorize(
        "events:PutEvents", ref.arn, resource_account=ref.account_id, resource_policies=policy
    )


def _allowed_aws_sources(ctx: RequestContext) -> frozenset[str]:
    """Return the aws.* sources that the operator lets callers put events with."""
    configured = ctx.runtime.settings.put_events_aws_sources or ""
    return frozenset(source for source in configured.split(",") if source)


@handlers.operation("PutEvents")
def put_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("EndpointId"):
        raise ValidationException(
            "Parameter EndpointId is not supported by this server: global endpoints are not "
            "implemented; send the events without it"
        )
    entries: list[dict[str, Any]] = params["Entries"]
    size = sum(ingest.entry_size(entry) for entry in entries)
    if size > ingest.MAX_REQUEST_BYTES:
        raise ValidationException(
            f"Total size of the entries in the request is over the limit: {size} bytes, "
            f"the maximum is {ingest.MAX_REQUEST_BYTES}."
        )

    now = ctx.clock.now()
    results: list[dict[str, str]] = []
    accepted: dict[buses.BusRef, list[dict[str, Any]]] = {}
    allowed_sources = _allowed_aws_sources(ctx)
    for entry in entries:
        try:
            source = str(entry.get("Source", ""))
            if source.startswith("aws.") and source not in allowed_sources:
                raise ingest.EntryError(
                    "NotAuthorizedForSourceException", "Not authorized for the source."
                )
            ref = _entry_bus(ctx, entry)
            event = ingest.envelope_of_entry(
                entry, account_id=ctx.account_id, region=ctx.region, now=now
            )
        except ingest.EntryError as exc:
            results.append({"ErrorCode": exc.code, "ErrorMessage": exc.message})
            continue
        _authorize_put(ctx, ref)
        accepted.setdefault(ref, []).append(event)
        results.append({"EventId": event["id"]})

    for ref, events in accepted.items():
        ingest.enqueue_batch(ctx.session, ctx.clock, ref, events)
    failed = sum(1 for result in results if "ErrorCode" in result)
    return {"FailedEntryCount": failed, "Entries": results}


@handlers.operation("TestEventPattern", read_only=True)
def test_event_pattern(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    try:
        pattern = compile_pattern(params["EventPattern"])
    except InvalidEventPattern as exc:
        raise InvalidEventPatternException(str(exc)) from exc
    try:
        event = parse_event(params["Event"])
    except InvalidEvent as exc:
        raise ValidationException(str(exc)) from exc
    return {"Result": pattern.matches(event)}
