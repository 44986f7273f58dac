"""Filters of ListIncidentRecords and ListTimelineEvents, turned into SQL conditions.

Several filters must all match, and a filter with several values matches
any of them, as the service model documents. A key that appears twice must
match both times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement

from tocsin.protocol.errors import ValidationException

ValueKind = Literal["stringValues", "integerValues"]


@dataclass(frozen=True)
class TimeKey:
    """A filter key that takes a ``before`` or ``after`` condition on a timestamp column."""

    column: Any


@dataclass(frozen=True)
class ValuesKey:
    """A filter key that takes an ``equals`` condition with values of one kind."""

    kind: ValueKind
    match: Callable[[list[Any]], ColumnElement[bool]]


FilterKey = TimeKey | ValuesKey


def conditions(
    filters: Sequence[Mapping[str, Any]], keys: Mapping[str, FilterKey]
) -> list[ColumnElement[bool]]:
    """Return one SQL condition per filter, or raise ValidationException for a filter
    whose key is unknown or whose condition does not fit the key.

    ``before`` and ``after`` are exclusive bounds.
    """
    result = []
    for index, item in enumerate(filters, start=1):
        key_name = item["key"]
        key = keys.get(key_name)
        if key is None:
            raise ValidationException(
                f"Invalid filters.{index}.key {key_name!r}: use one of {', '.join(keys)}"
            )
        condition = item["condition"]
        if isinstance(key, TimeKey):
            result.append(_time_condition(index, key_name, key, condition))
        else:
            result.append(_values_condition(index, key_name, key, condition))
    return result


def _time_condition(
    index: int, name: str, key: TimeKey, condition: Mapping[str, Any]
) -> ColumnElement[bool]:
    if "before" in condition:
        before: datetime = condition["before"]
        return key.column < before  # type: ignore[no-any-return]
    if "after" in condition:
        after: datetime = condition["after"]
        return key.column > after  # type: ignore[no-any-return]
    raise ValidationException(
        f"Invalid filters.{index}.condition: the {name} filter takes a before or after "
        "condition, not equals"
    )


def _values_condition(
    index: int, name: str, key: ValuesKey, condition: Mapping[str, Any]
) -> ColumnElement[bool]:
    equals = condition.get("equals")
    if equals is None:
        raise ValidationException(
            f"Invalid filters.{index}.condition: the {name} filter takes an equals condition "
            f"with {key.kind}, not before or after"
        )
    if key.kind not in equals:
        raise ValidationException(
            f"Invalid filters.{index}.condition.equals: the {name} filter takes {key.kind}"
        )
    values = list(equals[key.kind])
    if not values:
        raise ValidationException(
            f"Invalid filters.{index}.condition.equals.{key.kind}: give at least one value"
        )
    return key.match(values)
