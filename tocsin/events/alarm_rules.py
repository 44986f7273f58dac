"""Composite alarm rules: parsing and evaluation of AlarmRule expressions.

The grammar is CloudWatch's: the state functions ALARM, OK and
INSUFFICIENT_DATA applied to an alarm name or ARN (bare, or in double quotes),
the constants TRUE and FALSE, the operators NOT, AND and OR (in falling
precedence) and parentheses. Keywords are upper case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tocsin import jsontext
from tocsin.events.alarm_errors import InvalidParameterValueException

STATE_FUNCTIONS = {"ALARM": "ALARM", "OK": "OK", "INSUFFICIENT_DATA": "INSUFFICIENT_DATA"}
# CloudWatch functions that Tocsin does not evaluate; a rule that uses one is rejected.
UNSUPPORTED_FUNCTIONS = ("AT_LEAST",)
MAX_CHILDREN = 100

# Deepest nesting of parentheses accepted, well below the parser's recursion limit.
MAX_NESTING = 64


@dataclass(frozen=True)
class StateTest:
    """``state(alarm)``: true when the named alarm is in ``state``."""

    state: str
    alarm: str


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Not:
    operand: Rule


@dataclass(frozen=True)
class BinaryOp:
    operator: str  # AND or OR
    left: Rule
    right: Rule


Rule = StateTest | Constant | Not | BinaryOp


def _error(rule: str, position: int, problem: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"The value of AlarmRule is not valid at character {position + 1}: {problem}. "
        f"Rule: {rule!r}"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def word(self) -> str:
        """Return the upper-case keyword at the current position without consuming it."""
        self.skip_space()
        end = self.position
        while end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "_"):
            end += 1
        return self.text[self.position : end]

    def take(self, word: str) -> bool:
        if self.word() == word:
            self.position += len(word)
            return True
        return False

    def expect(self, char: str) -> None:
        self.skip_space()
        if not self.text.startswith(char, self.position):
            found = self.text[self.position : self.position + 10] or "the end of the rule"
            raise _error(self.text, self.position, f"expected {char!r}, found {found!r}")
        self.position += 1

    def parse(self) -> Rule:
        rule = self.disjunction()
        self.skip_space()
        if self.position != len(self.text):
            raise _error(
                self.text,
                self.position,
                f"unexpected {self.text[self.position : self.position + 10]!r}; "
                "join conditions with AND or OR",
            )
        return rule

    def binary(self, operator: str, operand: Callable[[], Rule]) -> Rule:
        rule = operand()
        while self.take(operator):
            rule = BinaryOp(operator, rule, operand())
        return rule

    def disjunction(self) -> Rule:
        return self.binary("OR", self.conjunction)

    def conjunction(self) -> Rule:
        return self.binary("AND", self.negation)

    def negation(self) -> Rule:
        if self.take("NOT"):
            return Not(self.negation())
        return self.primary()

    def primary(self) -> Rule:
        self.skip_space()
        if self.text.startswith("(", self.position):
            self.position += 1
            rule = self.disjunction()
            self.expect(")")
            return rule
        word = self.word()
        if word in ("TRUE", "FALSE"):
            self.position += len(word)
            return Constant(word == "TRUE")
        if word in STATE_FUNCTIONS:
            self.position += len(word)
            self.expect("(")
            return StateTest(STATE_FUNCTIONS[word], self.alarm_name())
        if word in UNSUPPORTED_FUNCTIONS:
            raise _error(
                self.text, self.position, f"the function {word} is not supported by this server"
            )
        found = word or self.text[self.position : self.position + 10] or "the end of the rule"
        raise _error(
            self.text,
            self.position,
            f"expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), TRUE, FALSE, NOT or "
            f"'(', found {found!r}",
        )

    def alarm_name(self) -> str:
        self.skip_space()
        if self.text.startswith('"', self.position):
            end = self.text.find('"', self.position + 1)
            if end < 0:
                raise _error(self.text, self.position, "the quoted alarm name is not closed")
            name = self.text[self.position + 1 : end]
            self.position = end + 1
        else:
            end = self.text.find(")", self.position)
            if end < 0:
                raise _error(self.text, self.position, "expected ')' after the alarm name")
            name = self.text[self.position : end].strip()
            self.position = end
        if not name:
            raise _error(self.text, self.position, "the alarm name is empty")
        self.expect(")")
        return name


def parse_rule(text: str) -> Rule:
    """Parse an AlarmRule, raising InvalidParameterValue with the position of the first error."""
    if jsontext.max_parenthesis_depth(text) > MAX_NESTING:
        raise InvalidParameterValueException(
            f"The value of AlarmRule nests parentheses more than {MAX_NESTING} deep. "
            f"Rule: {text[:200]!r}"
        )
    rule = _Parser(text).parse()
    if len(referenced_alarms(rule)) > MAX_CHILDREN:
        raise InvalidParameterValueException(
            f"The AlarmRule references more than {MAX_CHILDREN} alarms"
        )
    return rule


def referenced_alarms(rule: Rule) -> list[str]:
    """Return the alarm names or ARNs that ``rule`` tests, in order of first use."""
    found: list[str] = []

    def visit(node: Rule) -> None:
        if isinstance(node, StateTest):
            if node.alarm not in found:
                found.append(node.alarm)
        elif isinstance(node, Not):
            visit(node.operand)
        elif isinstance(node, BinaryOp):
            visit(node.left)
            visit(node.right)

    visit(rule)
    return found


def evaluate_rule(rule: Rule, state_of: Callable[[str], str]) -> bool:
    """Return the truth of ``rule`` when each referenced alarm has the state ``state_of`` gives."""
    if isinstance(rule, Constant):
        return rule.value
    if isinstance(rule, StateTest):
        return state_of(rule.alarm) == rule.state
    if isinstance(rule, Not):
        return not evaluate_rule(rule.operand, state_of)
    if rule.operator == "AND":
        return evaluate_rule(rule.left, state_of) and evaluate_rule(rule.right, state_of)
    return evaluate_rule(rule.left, state_of) or evaluate_rule(rule.right, state_of)
