"""Tables of the web console: sessions and failed sign-in attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class ConsoleSessionRecord(Base):
    """A signed-in console session of an IAM user, optionally acting as an assumed role."""

    __tablename__ = "console_sessions"

    # SHA-256 of the session cookie: the cookie value itself is held only by the browser.
    session_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    # Deleting the user ends its sessions.
    user_id: Mapped[str] = mapped_column(
        ForeignKey("iam_users.user_id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    # Stamp of the password at sign-in: a new password ends the session.
    password_stamp: Mapped[str] = mapped_column(String(64))
    # Set while the session acts as a role that the user switched to with AssumeRole.
    role_access_key_id: Mapped[str | None] = mapped_column(String(32))
    encrypted_role_session_token: Mapped[str | None] = mapped_column(Text)
    role_display_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SignInFailure(Base):
    """One failed console sign-in, counted to throttle guessing of passwords."""

    __tablename__ = "console_sign_in_failures"
    __table_args__ = (
        Index("ix_console_sign_in_failures_user", "account_id", "user_name", "failed_at"),
        Index("ix_console_sign_in_failures_client", "client_address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(12))
    # Lower case, because IAM user names are unique without regard to case.
    user_name: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime]
