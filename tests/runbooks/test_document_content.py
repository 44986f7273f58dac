"""Validation of Automation content through CreateDocument: real runbooks and broken ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.runbooks.conftest import FIXTURES, create, error_of

VALID = sorted(FIXTURES.glob("*.yaml"))

HEAD = """\
schemaVersion: '0.3'
parameters:
  Delay:
    type: String
    default: PT1S
"""


def nap(duration: str) -> str:
    """Return mainSteps with one aws:sleep step named Nap that sleeps for ``duration``."""
    return f"mainSteps:\n  - {{name: Nap, action: 'aws:sleep', inputs: {{Duration: {duration}}}}}\n"


# (case, content, expected error code, fragments that the message must contain)
INVALID: list[tuple[str, str, str, tuple[str, ...]]] = [
    (
        "unknown top-level key",
        HEAD + "mainStep:\n  - name: Wait\n",
        "InvalidDocumentContent",
        ("'mainStep'",),
    ),
    ("missing mainSteps", HEAD, "InvalidDocumentContent", ("mainSteps",)),
    (
        "missing schemaVersion",
        "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("schemaVersion",),
    ),
    ("not a mapping", "- just\n- a list\n", "InvalidDocumentContent", ("list",)),
    (
        "unknown action",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:doMagic', inputs: {}}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "aws:doMagic"),
    ),
    (
        "duplicate step name",
        HEAD
        + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n"
        + "  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("'Wait'", "more than one"),
    ),
    (
        "invalid step name",
        HEAD + "mainSteps:\n  - {name: 'bad name', action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("'bad name'",),
    ),
    (
        "unknown step key",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, retries: 3}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "'retries'"),
    ),
    (
        "missing inputs",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:pause'}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "inputs"),
    ),
    (
        "missing required input",
        HEAD
        + "mainSteps:\n  - {name: Call, action: 'aws:executeAwsApi', inputs: {Service: ec2}}\n",
        "InvalidDocumentContent",
        ("Step 'Call'", "Api"),
    ),
    (
        "nextStep names no step",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, nextStep: Nowhere}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "nextStep", "'Nowhere'"),
    ),
    (
        "invalid onFailure",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, onFailure: Retry}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "onFailure", "'Retry'"),
    ),
    (
        "onFailure names no step",
        HEAD
        + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, onFailure: 'step:Gone'}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "onFailure", "'Gone'"),
    ),
    (
        "onCancel cannot continue",
        HEAD
        + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, onCancel: Continue}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "onCancel"),
    ),
    (
        "maxAttempts zero",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, maxAttempts: 0}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "maxAttempts"),
    ),
    (
        "isEnd not boolean",
        HEAD + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}, isEnd: maybe}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "isEnd"),
    ),
    (
        "pause longer than 30 days",
        HEAD + nap("'{{ Delay }}'") + "  - {name: Wait, action: 'aws:pause', inputs: {},"
        " timeoutSeconds: 2592001}\n",
        "InvalidDocumentContent",
        ("Step 'Wait'", "timeoutSeconds"),
    ),
    (
        "sleep duration not ISO 8601",
        HEAD + "mainSteps:\n  - {name: Nap, action: 'aws:sleep', inputs: {Duration: 10 minutes}}\n",
        "InvalidDocumentContent",
        ("Step 'Nap'", "Duration"),
    ),
    (
        "undeclared parameter",
        HEAD
        + "mainSteps:\n  - {name: Nap, action: 'aws:sleep', inputs: {Duration: '{{ Pause }}'}}\n",
        "InvalidDocumentContent",
        ("Step 'Nap'", "Pause"),
    ),
    (
        "unknown step in reference",
        HEAD + nap("'{{ Ghost.Out }}'"),
        "InvalidDocumentContent",
        ("Step 'Nap'", "'Ghost'"),
    ),
    (
        "undeclared step output",
        HEAD + nap("'{{ Nap.Result }}'"),
        "InvalidDocumentContent",
        ("Step 'Nap'", "'Result'"),
    ),
    (
        "unknown system variable",
        HEAD + nap("'{{ global:NOPE }}'"),
        "InvalidDocumentContent",
        ("Step 'Nap'", "global:NOPE"),
    ),
    (
        "document output of a missing step",
        HEAD
        + "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\noutputs:\n  - Gone.Out\n",
        "InvalidDocumentContent",
        ("'Gone.Out'",),
    ),
    (
        "unknown parameter type",
        "schemaVersion: '0.3'\nparameters:\n  Count:\n    type: Number\n"
        "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("Parameter 'Count'", "'Number'"),
    ),
    (
        "default of the wrong type",
        "schemaVersion: '0.3'\nparameters:\n  Count:\n    type: Integer\n    default: many\n"
        "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("Parameter 'Count'", "Integer"),
    ),
    (
        "default outside allowedValues",
        "schemaVersion: '0.3'\nparameters:\n  Size:\n    type: String\n    default: XL\n"
        "    allowedValues: [S, M]\n"
        "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("Parameter 'Size'", "'XL'"),
    ),
    (
        "invalid allowedPattern",
        "schemaVersion: '0.3'\nparameters:\n  Id:\n    type: String\n    allowedPattern: '^(i-'\n"
        "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("Parameter 'Id'", "allowedPattern"),
    ),
    (
        "default shorter than minChars",
        "schemaVersion: '0.3'\nparameters:\n  Id:\n    type: String\n    default: ab\n"
        "    minChars: 3\n"
        "mainSteps:\n  - {name: Wait, action: 'aws:pause', inputs: {}}\n",
        "InvalidDocumentContent",
        ("Parameter 'Id'", "minChars"),
    ),
    (
        "branch choice to a missing step",
        HEAD + "mainSteps:\n  - name: Choose\n    action: 'aws:branch'\n    inputs:\n"
        "      Choices:\n        - {NextStep: Gone, Variable: '{{ Delay }}', StringEquals: PT1S}\n",
        "InvalidDocumentContent",
        ("Step 'Choose'", "'Gone'"),
    ),
    (
        "branch choice with two operators",
        HEAD + "mainSteps:\n  - name: Choose\n    action: 'aws:branch'\n    inputs:\n"
        "      Choices:\n        - {NextStep: Choose, Variable: '{{ Delay }}', StringEquals: a,"
        " StartsWith: b}\n",
        "InvalidDocumentContent",
        ("Step 'Choose' choice 0", "exactly one operator"),
    ),
    (
        "branch default to a missing step",
        HEAD + "mainSteps:\n  - name: Choose\n    action: 'aws:branch'\n    inputs:\n"
        "      Choices:\n        - {NextStep: Choose, Variable: '{{ Delay }}', StringEquals: a}\n"
        "      Default: Elsewhere\n",
        "InvalidDocumentContent",
        ("Step 'Choose'", "'Elsewhere'"),
    ),
    (
        "step output with an unknown type",
        HEAD + "mainSteps:\n  - name: Call\n    action: 'aws:executeAwsApi'\n"
        "    inputs: {Service: ec2, Api: DescribeInstances}\n"
        "    outputs:\n      - {Name: Ids, Selector: '$.Ids', Type: Array}\n",
        "InvalidDocumentContent",
        ("Step 'Call'", "'Ids'", "'Array'"),
    ),
    (
        "YAML alias expansion",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
            f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
            f" *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(7)
        ),
        "InvalidDocumentContent",
        ("elements",),
    ),
    (
        "deep nesting",
        "schemaVersion: '0.3'\ndescription: x\nfiles: " + "[" * 100 + "]" * 100 + "\n",
        "InvalidDocumentContent",
        ("nested",),
    ),
]


@pytest.mark.parametrize("path", VALID, ids=[path.name for path in VALID])
def test_real_runbook_is_accepted(server: Any, ssm: Any, path: Path) -> None:
    content = path.read_text(encoding="utf-8")
    name = path.stem.replace("AWSIncidents-", "Incidents-")

    description = create(ssm, name, content)

    assert description["Status"] == "Active"
    assert description["SchemaVersion"] == "0.3"
    assert ssm.get_document(Name=name)["Content"] == content


def test_invalid_fixture_messages(ssm: Any) -> None:
    expected = {
        "asr-fixture-broken_yaml.yaml": (
            "InvalidDocumentContent",
            ("YAML not well-formed", "line 5, column 1", "quoted scalar at line 2"),
        ),
        "asr-fixture-empty_main_steps.yaml": (
            "InvalidDocumentContent",
            ("mainSteps must contain at least one step",),
        ),
        "asr-fixture-wrong_schema_version.yaml": (
            "InvalidDocumentSchemaVersion",
            ("schemaVersion '0.2'", "use '0.3'"),
        ),
    }
    paths = sorted((FIXTURES / "invalid").glob("*.yaml"))
    assert sorted(path.name for path in paths) == sorted(expected)
    for path in paths:
        code, fragments = expected[path.name]
        with pytest.raises(ClientError) as excinfo:
            create(ssm, "invalid-runbook", path.read_text(encoding="utf-8"))
        error = error_of(excinfo)
        assert error[0] == code, path.name
        assert error[2] == 400, path.name
        for fragment in fragments:
            assert fragment in error[1], (path.name, error[1])


def test_invalid_content_table(ssm: Any) -> None:
    for case, content, code, fragments in INVALID:
        with pytest.raises(ClientError) as excinfo:
            create(ssm, "invalid-runbook", content)
        error = error_of(excinfo)
        assert error[0] == code, (case, error)
        assert error[2] == 400, case
        for fragment in fragments:
            assert fragment in error[1], (case, error[1])
    # Nothing of the rejected content was stored.
    assert ssm.list_documents()["DocumentIdentifiers"] == []
