"""Console password hashing and the password policy, without a server."""

from __future__ import annotations

import pytest

from tocsin.iam.errors import PasswordPolicyViolationException
from tocsin.iam.passwords import check_password_policy, hash_password, verify_password


def test_hash_salted_and_verifiable() -> None:
    first = hash_password("Correct-Horse-7")
    second = hash_password("Correct-Horse-7")
    assert first != second
    assert verify_password("Correct-Horse-7", first)
    assert verify_password("Correct-Horse-7", second)
    assert not verify_password("correct-Horse-7", first)
    assert not verify_password("", first)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text",
        "bcrypt$16384$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$not-base64!$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$AAAA",
    ],
)
def test_malformed_hash_never_matches(stored: str) -> None:
    assert not verify_password("Correct-Horse-7", stored)


@pytest.mark.parametrize(
    "password",
    ["Abcdefg1", "abcdefg1!", "ABCDEFG1!", "Abcdefgh!", "päss-Wörd", "Pass word 1"],
)
def test_policy_accepts_three_classes(password: str) -> None:
    check_password_policy(password, "alice")


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("Ab1!", "minimum length of 8; it has 4 characters"),
        ("Ab1!" * 33, "maximum length of 128; it has 132 characters"),
        ("abcdefgh", "it contains lowercase letters."),
        ("abcdefg1", "it contains lowercase letters, numbers."),
        ("12345678", "it contains numbers."),
        ("Long-User-9", "same as the user name"),
    ],
)
def test_policy_rejects(password: str, fragment: str) -> None:
    with pytest.raises(PasswordPolicyViolationException) as excinfo:
        check_password_policy(password, "long-user-9")
    assert fragment in excinfo.value.message
