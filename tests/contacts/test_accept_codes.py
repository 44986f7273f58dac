"""Accept codes: derived from the page id and the secret key, with older encrypted rows readable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from tests.contacts.conftest import personal
from tests.contacts.engagement_support import (
    accept_code_in,
    activated_channel,
    advance,
    channel_stage,
    engage,
    page_messages,
    pages_of,
    settle,
)
from tocsin.contacts.engagement_models import Page
from tocsin.contacts.pages import (
    ACCEPT_CODE_DIGITS,
    ACCEPT_CODE_KEY_PURPOSE,
    DERIVED_ACCEPT_CODE,
    derive_accept_code,
)
from tocsin.iam.crypto import SecretBox
from tocsin.testing import RunningServer

OLD_CODE = "024680"


def stored_page(server: RunningServer, arn: str) -> Page:
    with server.runtime.database.session() as session:
        page = session.scalar(select(Page).where(Page.arn == arn))
        assert page is not None
        session.expunge(page)
    return page


def test_derived_code_format_and_spread() -> None:
    box = SecretBox(b"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    derived_key = box.derive(ACCEPT_CODE_KEY_PURPOSE)
    page_ids = [str(uuid.UUID(int=index)) for index in range(200)]
    codes = [derive_accept_code(derived_key, page_id) for page_id in page_ids]

    assert all(len(code) == ACCEPT_CODE_DIGITS for code in codes)
    assert all(code.isdigit() for code in codes)
    assert len(set(codes)) >= 195
    assert derive_accept_code(derived_key, page_ids[0]) == codes[0]
    other_key = SecretBox(b"ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
    other_codes = [
        derive_accept_code(other_key.derive(ACCEPT_CODE_KEY_PURPOSE), page_id)
        for page_id in page_ids
    ]
    assert sum(a == b for a, b in zip(codes, other_codes, strict=True)) <= 5


def test_page_stores_no_code(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    channel = activated_channel(server, contacts, contact, "person@example.com")
    contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})
    engagement = engage(contacts, contact)
    settle(server)

    page_arn = pages_of(contacts, engagement)[0]["PageArn"]
    page = stored_page(server, page_arn)
    code = accept_code_in(page_messages(server, channel)[0].body)
    assert page.accept_code == DERIVED_ACCEPT_CODE
    key = server.runtime.secrets.derive(ACCEPT_CODE_KEY_PURPOSE)
    assert code == derive_accept_code(key, page.page_id)

    contacts.accept_page(
        PageId=page_arn, AcceptType="READ", AcceptCode=code, AcceptCodeValidation="ENFORCE"
    )
    assert "ReadTime" in contacts.describe_page(PageId=page_arn)


def test_encrypted_code_still_read(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    channel = activated_channel(server, contacts, contact, "person@example.com")
    stages = [channel_stage(channel, minutes=1), channel_stage(channel)]
    contacts.update_contact(ContactId=contact, Plan={"Stages": stages})
    engagement = engage(contacts, contact)
    settle(server)
    page_arn = pages_of(contacts, engagement)[0]["PageArn"]
    derived = accept_code_in(page_messages(server, channel)[0].body)

    # A page written before codes were derived stores its code as a Fernet token.
    with server.runtime.database.session() as session:
        page = session.scalar(select(Page).where(Page.arn == page_arn))
        assert page is not None
        page.accept_code = server.runtime.secrets.encrypt(OLD_CODE)
    advance(server, minutes=1)

    messages = page_messages(server, channel)
    assert len(messages) == 2
    assert accept_code_in(messages[1].body) == OLD_CODE
    if derived != OLD_CODE:
        with pytest.raises(ClientError) as info:
            contacts.accept_page(
                PageId=page_arn,
                AcceptType="READ",
                AcceptCode=derived,
                AcceptCodeValidation="ENFORCE",
            )
        assert info.value.response["Error"]["Code"] == "ValidationException"
    contacts.accept_page(
        PageId=page_arn, AcceptType="READ", AcceptCode=OLD_CODE, AcceptCodeValidation="ENFORCE"
    )
    assert "ReadTime" in contacts.describe_page(PageId=page_arn)
