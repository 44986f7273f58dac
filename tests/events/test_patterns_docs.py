"""The event patterns and sample events of the Amazon EventBridge user guide.

The fixture keeps each code block of the guide verbatim; fixtures/SOURCES names its
origin and licence. Each test pairs a documented pattern with the sample event the guide
shows it with, or with a small variant of that event when the guide only describes it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tocsin.events.patterns import InvalidEventPattern, compile_pattern, matches

FIXTURE = Path(__file__).parent / "fixtures" / "eb-docs-event-patterns-and-sample-events.json"
BLOCKS: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["blocks"]

# Blocks whose code is an event pattern (block 9 holds two patterns).
PATTERN_BLOCKS = [1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 20, 21, 22, 26, 27]


def raw(index: int) -> str:
    return str(BLOCKS[index]["raw"])


def pattern_texts(index: int) -> list[str]:
    """Split a block's raw text into the JSON documents it holds, as text."""
    decoder = json.JSONDecoder()
    text, position, documents = raw(index), 0, []
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        _, end = decoder.raw_decode(text, position)
        documents.append(text[position:end])
        position = end
    return documents


def event(index: int) -> dict[str, Any]:
    return copy.deepcopy(BLOCKS[index]["json"][0])


def check(pattern_text: str, event_value: dict[str, Any]) -> bool:
    return compile_pattern(pattern_text).matches(event_value)


def test_fixture_blocks_are_the_documented_ones() -> None:
    assert len(BLOCKS) == 33
    assert BLOCKS[7]["section"] == "Prefix matching"
    assert BLOCKS[22]["section"] == "Complex example with `$or` matching"


@pytest.mark.parametrize("index", PATTERN_BLOCKS)
def test_documented_pattern_compiles(index: int) -> None:
    texts = pattern_texts(index)
    assert texts
    for text in texts:
        assert compile_pattern(text).text == text


def test_array_fragment_with_trailing_comma_rejected() -> None:
    # The guide prints the "resources" array with a trailing comma, which is not JSON.
    with pytest.raises(InvalidEventPattern, match="invalid JSON"):
        compile_pattern("{" + raw(23) + "}")


def test_truncated_sample_rejected() -> None:
    with pytest.raises(InvalidEventPattern, match="invalid JSON"):
        compile_pattern(raw(5))


def test_ec2_termination_pattern_matches_sample() -> None:
    assert check(raw(1), event(0))
    assert check(raw(1), event(28))
    stopped = event(0)
    stopped["detail"]["state"] = "stopped"
    assert not check(raw(1), stopped)


def test_source_list_matches_either_source() -> None:
    assert check(raw(2), event(0))
    fargate = event(0)
    fargate["source"] = "aws.fargate"
    assert check(raw(2), fargate)
    fargate["source"] = "aws.ecs"
    assert not check(raw(2), fargate)


def test_null_field_pattern_matches_sample() -> None:
    assert check(raw(4), event(3))
    assert check(raw(27), event(25))
    not_null = event(25)
    not_null["detail"]["responseElements"] = {}
    assert not check(raw(27), not_null)


def test_empty_string_pattern_matches_sample() -> None:
    assert check(raw(26), event(25))
    filled = event(25)
    filled["detail"]["eventVersion"] = "1.0"
    assert not check(raw(26), filled)


def test_macie_score_and_count_pattern() -> None:
    # The guide's Macie event is truncated; these are the fields the pattern reads.
    finding = {
        "source": "aws.macie",
        "detail-type": "Macie Finding",
        "detail": {"severity": {"score": 1, "description": "Low"}, "count": 2},
    }
    assert check(raw(6), finding)
    finding["detail"]["count"] = 3
    assert not check(raw(6), finding)


def test_time_prefix_pattern() -> None:
    sample = event(0)
    assert not check(raw(7), sample)
    sample["time"] = "2017-10-02T18:43:48Z"
    assert check(raw(7), sample)


def test_file_name_suffix_pattern() -> None:
    assert check(raw(8), {"FileName": "photo.png"})
    assert not check(raw(8), {"FileName": "photo.png.txt"})


def test_anything_but_string_and_number_patterns() -> None:
    by_state, by_limit = pattern_texts(9)
    assert check(by_state, {"detail": {"state": "running"}})
    assert not check(by_state, {"detail": {"state": "initializing"}})
    assert check(by_limit, {"detail": {"x-limit": 124}})
    assert not check(by_limit, {"detail": {"x-limit": 123}})


def test_anything_but_lists_and_prefix_patterns() -> None:
    assert check(raw(10), {"detail": {"state": "running"}})
    assert not check(raw(10), {"detail": {"state": "overloaded"}})
    assert check(raw(11), {"detail": {"x-limit": 150}})
    assert not check(raw(11), {"detail": {"x-limit": 200}})
    assert check(raw(12), {"detail": {"state": "running"}})
    assert not check(raw(12), {"detail": {"state": "initializing"}})


def test_numeric_pattern_needs_every_field() -> None:
    both = {"detail": {"c-count": 5, "d-count": 9.5, "x-limit": 301.8}}
    assert check(raw(13), both)
    assert not check(raw(13), {"detail": {"c-count": 0, "d-count": 9, "x-limit": 301.8}})
    assert not check(raw(13), {"detail": {"c-count": 5, "d-count": 9}})


def test_cidr_pattern() -> None:
    assert check(raw(14), {"detail": {"sourceIPAddress": "10.0.0.255"}})
    assert not check(raw(14), {"detail": {"sourceIPAddress": "10.0.1.0"}})


def test_exists_pattern_on_documented_events() -> None:
    assert check(raw(15), event(16))
    # The guide states that this event does not match because it has no detail.state field.
    assert not check(raw(15), event(17))


def test_equals_ignore_case_pattern_on_documented_event() -> None:
    assert check(raw(18), event(19))


def test_complex_pattern() -> None:
    sample = {
        "time": "2017-10-02T16:24:49Z",
        "detail": {"state": "running", "c-count": 5, "d-count": 3, "x-limit": 301.8},
    }
    assert check(raw(20), sample)
    sample["detail"]["x-limit"] = 300
    assert not check(raw(20), sample)


def test_repeated_key_keeps_last_reference() -> None:
    # The guide: "if you include a key more than once the last reference will be the one
    # used", so the prefix "us-" is dropped and only anything-but "us-east" is applied.
    assert check(raw(21), {"detail": {"location": "eu-west"}})
    assert check(raw(21), {"detail": {"location": "us-west"}})
    assert not check(raw(21), {"detail": {"location": "us-east"}})


def test_or_pattern_matches_any_branch() -> None:
    assert check(raw(22), {"detail": {"c-count": 3}})
    assert check(raw(22), {"detail": {"d-count": 1}})
    assert check(raw(22), {"detail": {"x-limit": 301.8}})
    assert not check(raw(22), {"detail": {"c-count": 7, "d-count": 10, "x-limit": 1}})


def test_resources_array_intersection() -> None:
    pattern_text = "{" + raw(23).replace('",\n]', '"\n]') + "}"
    event_value = json.loads("{" + raw(24) + "}")
    assert check(pattern_text, event_value)
    event_value["resources"].pop()
    assert not check(pattern_text, event_value)


def test_documented_event_through_test_event_pattern() -> None:
    assert matches(raw(1), raw(28))
    assert matches(raw(1), raw(0))
