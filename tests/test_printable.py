"""Escaping of control characters in text that the CLI prints."""

from __future__ import annotations

import pytest

from tocsin.printable import printable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain name", "plain name"),
        ("nul\x00", "nul\\x00"),
        ("tab\there", "tab\\x09here"),
        ("cr\rlf\n", "cr\\x0dlf\\x0a"),
        ("unit\x1f", "unit\\x1f"),
        ("del\x7f", "del\\x7f"),
        ("c1\x80\x9f", "c1\\x80\\x9f"),
        ("caf\u00e9 \u00a0nbsp", "caf\u00e9 \u00a0nbsp"),
    ],
)
def test_printable_escapes_controls(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_printable_keeps_newlines_on_request() -> None:
    assert printable("a\x07\nb\r\n", keep_newlines=True) == "a\\x07\nb\\x0d\n"
