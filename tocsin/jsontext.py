"""Strict JSON text: no NaN or Infinity, and a bounded nesting depth.

Python's json module accepts NaN and Infinity, which other JSON parsers
reject, and raises RecursionError rather than ValueError on documents nested
thousands of levels deep. Input from callers goes through ``loads``.
"""

from __future__ import annotations

import json
from typing import Any


class JsonTextError(ValueError):
    """The text is not strict JSON; the message gives the reason."""


def _reject_constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON value")


def loads(text: str | bytes) -> Any:
    """Parse strict JSON ``text``, or raise JsonTextError with the reason."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except JsonTextError:
        raise
    except RecursionError:
        raise JsonTextError("the JSON is nested too deeply") from None
    except ValueError as exc:
        raise JsonTextError(f"the text is not valid JSON: {exc}") from None


def max_parenthesis_depth(text: str) -> int:
    """Return the deepest nesting of round brackets in ``text``."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(depth - 1, 0)
    return deepest
