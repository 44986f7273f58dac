"""Metric math for alarms: parsing and evaluating the Expression of a MetricDataQuery.

A time series is a mapping from period start to value. Arithmetic between two
series keeps the periods present in both, and a scalar applies to every
period. Supported: numbers, query ids, ``+ - * / ^``, comparisons
(``< <= > >= == !=``), ``AND``, ``OR``, ``NOT``, parentheses, lists in
brackets and the functions in ``FUNCTIONS``. Any other function is rejected
by name when the alarm is put.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin import jsontext
from tocsin.events.alarm_errors import InvalidParameterValueException

Series = dict[datetime, float]
Value = float | Series | list[Series]

FUNCTIONS = ("SUM", "AVG", "MIN", "MAX", "METRICS", "FILL", "IF", "ABS", "CEIL", "FLOOR")
FILL_MODES = ("REPEAT",)
TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<string>\"[^\"]*\"|'[^']*')"
    r"|(?P<op><=|>=|==|!=|[-+*/^(),\[\]<>]))"
)
BINARY_PRECEDENCE = {
    "OR": 1,
    "AND": 2,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "==": 3,
    "!=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "^": 7,
}

# Deepest nesting of parentheses accepted, well below the parser's recursion limit.
MAX_NESTING = 64


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Reference:
    id: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    operator: str  # - or NOT
    operand: Node


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Node
    right: Node


Node = Number | Reference | Text | Call | ListOf | Unary | Binary


class MathError(InvalidParameterValueException):
    """An expression that does not parse or uses what Tocsin does not evaluate."""

    code = "InvalidParameterValueException"


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise MathError(
                f"The expression {expression!r} has an unexpected character at position "
                f"{position + 1}: {expression[position : position + 1]!r}"
            )
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MathError(f"The expression {self.expression!r} ends too early")
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        _kind, value = self.next()
        if value != text:
            raise MathError(
                f"The expression {self.expression!r} has {value!r} where {text!r} is expected"
            )

    def parse(self) -> Node:
        node = self.binary(1)
        extra = self.peek()
        if extra is not None:
            raise MathError(f"The expression {self.expression!r} has an unexpected {extra[1]!r}")
        return node

    def binary(self, minimum: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            precedence = BINARY_PRECEDENCE.get(token[1]) if token else None
            if token is None or precedence is None or precedence < minimum:
                return left
            self.index += 1
            # ^ is right-associative, the others left-associative.
            right = self.binary(precedence if token[1] == "^" else precedence + 1)
            left = Binary(token[1], left, right)

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token[1] in ("-", "NOT"):
            self.index += 1
            return Unary(token[1], self.binary(6 if token[1] == "-" else 3))
        return self.primary()

    def arguments(self, closing: str) -> tuple[Node, ...]:
        items: list[Node] = []
        following = self.peek()
        if following is not None and following[1] == closing:
            self.index += 1
            return ()
        while True:
            items.append(self.binary(1))
            _kind, value = self.next()
            if value == closing:
                return tuple(items)
            if value != ",":
                raise MathError(
                    f"The expression {self.expression!r} has {value!r} where ',' or "
                    f"{closing!r} is expected"
                )

    def primary(self) -> Node:
        kind, value = self.next()
        if kind == "number":
            return Number(float(value))
        if kind == "string":
            return Text(value[1:-1])
        if value == "(":
            node = self.binary(1)
            self.expect(")")
            return node
        if value == "[":
            return ListOf(self.arguments("]"))
        if kind == "name":
            following = self.peek()
            if following is not None and following[1] == "(":
                self.index += 1
                return self.call(value, self.arguments(")"))
            if value in FILL_MODES:
                return Text(value)
            return Reference(value)
        raise MathError(f"The expression {self.expression!r} has an unexpected {value!r}")

    def call(self, function: str, arguments: tuple[Node, ...]) -> Node:
        if function not in FUNCTIONS:
            raise MathError(
                f"The function {function} in expression {self.expression!r} is not supported "
                f"in alarms by this server; supported functions: {', '.join(FUNCTIONS)}"
            )
        return Call(function, arguments)


def parse_expression(expression: str) -> Node:
    """Parse a metric math expression, raising InvalidParameterValue on the first problem."""
    if jsontext.max_parenthesis_depth(expression) > MAX_NESTING:
        raise MathError(
            f"The value of Expression nests parentheses more than {MAX_NESTING} deep: "
            f"{expression[:200]!r}"
        )
    return _Parser(expression).parse()


def references(node: Node) -> set[str]:
    """Return the query ids that ``node`` uses."""
    if isinstance(node, Reference):
        return {node.id}
    children: Sequence[Node] = ()
    if isinstance(node, Call):
        children = node.arguments
    elif isinstance(node, ListOf):
        children = node.items
    elif isinstance(node, Unary):
        children = (node.operand,)
    elif isinstance(node, Binary):
        children = (node.left, node.right)
    found: set[str] = set()
    for child in children:
        found |= references(child)
    return found


def uses_all_metrics(node: Node) -> bool:
    """Return whether ``node`` calls METRICS(), which reads every metric query of the alarm."""
    if isinstance(node, Call):
        return node.function == "METRICS" or any(uses_all_metrics(arg) for arg in node.arguments)
    if isinstance(node, ListOf):
        return any(uses_all_metrics(item) for item in node.items)
    if isinstance(node, Unary):
        return uses_all_metrics(node.operand)
    if isinstance(node, Binary):
        return uses_all_metrics(node.left) or uses_all_metrics(node.right)
    return False


def _compare(function: Callable[[float, float], bool]) -> Callable[[float, float], float]:
    return lambda left, right: 1.0 if function(left, right) else 0.0


def _divide(left: float, right: float) -> float:
    return left / right if right else math.nan


OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
    "^": lambda left, right: math.pow(left, right) if left or right > 0 else math.nan,
    "<": _compare(operator.lt),
    "<=": _compare(operator.le),
    ">": _compare(operator.gt),
    ">=": _compare(operator.ge),
    "==": _compare(operator.eq),
    "!=": _compare(operator.ne),
    "AND": lambda left, right: 1.0 if left and right else 0.0,
    "OR": lambda left, right: 1.0 if left or right else 0.0,
}
ROUNDING: dict[str, Callable[[float], float]] = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor}
AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "MIN": min,
    "MAX": max,
}


def _clean(series: Series) -> Series:
    """Drop the periods whose value is not a number (division by zero, for example)."""
    return {moment: value for moment, value in series.items() if not math.isnan(value)}


def _combine(
    left: float | Series, right: float | Series, function: Callable[[float, float], float]
) -> float | Series:
    try:
        if isinstance(left, dict) and isinstance(right, dict):
            return _clean({t: function(v, right[t]) for t, v in left.items() if t in right})
        if isinstance(left, dict):
            assert not isinstance(right, dict)
            return _clean({t: function(v, right) for t, v in left.items()})
        if isinstance(right, dict):
            return _clean({t: function(left, v) for t, v in right.items()})
        return function(left, right)
    except (OverflowError, ValueError):
        return math.nan


@dataclass
class Evaluator:
    """Evaluates expressions over the periods ``timestamps`` (ascending).

    ``metrics`` maps the id of each MetricStat query to its series; ``expressions``
    maps the id of each expression query to its parsed expression.
    """

    timestamps: list[datetime]
    metrics: Mapping[str, Series]
    expressions: Mapping[str, Node]
    labels: Mapping[str, str]

    def __post_init__(self) -> None:
        self._done: dict[str, Value] = {}
        self._running: set[str] = set()

    def value_of(self, query_id: str) -> Value:
        if query_id in self.metrics:
            return self.metrics[query_id]
        if query_id in self._done:
            return self._done[query_id]
        if query_id in self._running:
            raise MathError(f"The expression of {query_id} refers to itself through other ids")
        self._running.add(query_id)
        value = self.evaluate(self.expressions[query_id])
        self._running.discard(query_id)
        self._done[query_id] = value
        return value

    def evaluate(self, node: Node) -> Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Reference):
            if node.id not in self.metrics and node.id not in self.expressions:
                raise MathError(f"The expression refers to {node.id}, which is not a query id")
            return self.value_of(node.id)
        if isinstance(node, ListOf):
            return [self._series(self.evaluate(item)) for item in node.items]
        if isinstance(node, Unary):
            operand = self._single(self.evaluate(node.operand))
            if node.operator == "-":
                return _combine(0.0, operand, operator.sub)
            return _combine(operand, 0.0, lambda value, _zero: 0.0 if value else 1.0)
        if isinstance(node, Binary):
            left = self._single(self.evaluate(node.left))
            right = self._single(self.evaluate(node.right))
            return _combine(left, right, OPERATORS[node.operator])
        if isinstance(node, Call):
            return self.call(node)
        raise MathError(f"A string such as {node.value!r} is not a value")

    def _single(self, value: Value) -> float | Series:
        if isinstance(value, list):
            raise MathError(
                "An operator cannot apply to a list of time series; use SUM, AVG, MIN or MAX"
            )
        return value

    def _series(self, value: Value) -> Series:
        if isinstance(value, list):
            raise MathError("A list cannot contain another list")
        if isinstance(value, dict):
            return value
        return {moment: value for moment in self.timestamps}

    def call(self, node: Call) -> Value:
        name, arguments = node.function, node.arguments
        if name == "METRICS":
            wanted = arguments[0].value if arguments and isinstance(arguments[0], Text) else ""
            return [
                series
                for query_id, series in sorted(self.metrics.items())
                if wanted in self.labels.get(query_id, query_id)
            ]
        if name in AGGREGATES:
            return self.aggregate(name, arguments)
        if name == "FILL":
            return self.fill(arguments)
        if name == "IF":
            return self.condition(arguments)
        function = ROUNDING[name]
        if len(arguments) != 1:
            raise MathError(f"{name} takes one argument, got {len(arguments)}")
        value = self._single(self.evaluate(arguments[0]))
        return _combine(value, 0.0, lambda number, _zero: float(function(number)))

    def aggregate(self, name: str, arguments: tuple[Node, ...]) -> Value:
        if len(arguments) != 1:
            raise MathError(f"{name} takes one argument, got {len(arguments)}")
        value = self.evaluate(arguments[0])
        function = AGGREGATES[name]
        if isinstance(value, list):
            moments = sorted({moment for series in value for moment in series})
            result = {}
            for moment in moments:
                present = [series[moment] for series in value if moment in series]
                result[moment] = function(present)
            return result
        if isinstance(value, dict):
            return function(list(value.values())) if value else math.nan
        return value

    def fill(self, arguments: tuple[Node, ...]) -> Value:
        if len(arguments) != 2:
            raise MathError(f"FILL takes two arguments, got {len(arguments)}")
        value = self.evaluate(arguments[0])
        if isinstance(value, list):
            return [self._fill_one(series, arguments[1]) for series in value]
        return self._fill_one(self._series(value), arguments[1])

    def _fill_one(self, series: Series, how: Node) -> Series:
        result = dict(series)
        if isinstance(how, Text):
            if how.value != "REPEAT":
                raise MathError(f"FILL does not support {how.value!r}; use a number or REPEAT")
            last: float | None = None
            for moment in self.timestamps:
                if moment in series:
                    last = series[moment]
                elif last is not None:
                    result[moment] = last
            return result
        filler = self._single(self.evaluate(how))
        for moment in self.timestamps:
            if moment not in result:
                fill_value = filler.get(moment) if isinstance(filler, dict) else filler
                if fill_value is not None:
                    result[moment] = fill_value
        return result

    def condition(self, arguments: tuple[Node, ...]) -> Value:
        if len(arguments) not in (2, 3):
            raise MathError(f"IF takes two or three arguments, got {len(arguments)}")
        test = self._series(self._single(self.evaluate(arguments[0])))
        then = self._single(self.evaluate(arguments[1]))
        otherwise = self._single(self.evaluate(arguments[2])) if len(arguments) == 3 else None
        result: Series = {}
        for moment, flag in test.items():
            chosen = then if flag else otherwise
            if chosen is None:
                continue
            value = chosen.get(moment) if isinstance(chosen, dict) else chosen
            if value is not None:
                result[moment] = value
        return result


def check_queries(queries: Sequence[Mapping[str, Any]]) -> dict[str, Node]:
    """Parse the expressions of ``queries`` and check their ids; return expressions by id."""
    ids = [query["Id"] for query in queries]
    for query_id in ids:
        if not re.match(r"^[a-z][a-zA-Z0-9_]*$", query_id):
            raise InvalidParameterValueException(
                f"The value {query_id!r} for Metrics.Id is not valid: an id starts with a "
                "lower-case letter and contains only letters, numbers and underscores"
            )
    duplicates = sorted({query_id for query_id in ids if ids.count(query_id) > 1})
    if duplicates:
        raise InvalidParameterValueException(f"The ids of Metrics must be unique: {duplicates}")
    parsed = {}
    for query in queries:
        if query.get("Expression") is not None:
            node = parse_expression(query["Expression"])
            missing = sorted(references(node) - set(ids))
            if missing:
                raise InvalidParameterValueException(
                    f"The expression of {query['Id']} refers to unknown ids {missing}"
                )
            parsed[query["Id"]] = node
    return parsed
