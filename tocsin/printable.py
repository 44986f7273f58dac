"""Text safe to print on a terminal from names and other values that callers stored.

A stored name may contain C0 control characters (U+0000 to U+001F), DEL
(U+007F) or C1 control characters (U+0080 to U+009F). A terminal acts on
them: BEL rings, ESC and CSI start escape sequences, and CR or LF can forge
lines of a report. ``printable`` writes each of them as a ``\\xNN`` escape.
"""

from __future__ import annotations

import re

CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _escape(found: re.Match[str]) -> str:
    return f"\\x{ord(found.group()):02x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Replace each C0 and C1 control character and DEL in ``text`` with a ``\\xNN`` escape.

    With ``keep_newlines``, LF stays as it is, for text that is already split
    into lines whose values were escaped one by one.
    """
    pattern = CONTROL_CHARACTERS_BUT_NEWLINE if keep_newlines else CONTROL_CHARACTERS
    return pattern.sub(_escape, text)
