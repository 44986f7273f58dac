"""Pagination of EventBridge listings: Limit and NextToken over a sorted list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tocsin.protocol.handlers import RequestContext
from tocsin.protocol.pagination import listing_filters, page_scope, paginate

Item = TypeVar("Item")

# EventBridge returns at most 100 items per page when Limit is not given.
DEFAULT_LIMIT = 100


def page(
    ctx: RequestContext,
    params: dict[str, Any],
    items: Sequence[Item],
    key: Callable[[Item], str],
) -> tuple[list[Item], dict[str, Any]]:
    """Return one page of ``items`` (sorted by ``key``) and the NextToken member, if any."""
    result = paginate(
        items,
        key=lambda item: (key(item),),
        max_results=params.get("Limit") or DEFAULT_LIMIT,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "events", ctx.operation, listing_filters(params, "Limit")),
    )
    more = {"NextToken": result.next_token} if result.next_token else {}
    return result.items, more
