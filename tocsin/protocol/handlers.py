"""Registration of operation handlers and the context they run in.

A handler is a plain function ``(ctx, params) -> output``. It runs inside one
database transaction (``ctx.session``) that the dispatcher commits after the
handler returns and rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.principal import Caller
from tocsin.protocol.services import ServiceSpec

if TYPE_CHECKING:
    from tocsin.app import Runtime

Output = Mapping[str, Any] | None
Handler = Callable[["RequestContext", dict[str, Any]], Output]


@dataclass
class RequestContext:
    """Everything a handler may use: the caller, the transaction, the clock and the runtime."""

    request_id: str
    spec: ServiceSpec
    operation: str
    region: str
    caller: Caller
    session: Session
    runtime: Runtime
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    def authorize(
        self,
        action: str,
        resource: str,
        *,
        resource_account: str | None = None,
        resource_policies: tuple[dict[str, Any], ...] = (),
        conditions: Mapping[str, Any] | None = None,
        trust_policy: bool = False,
    ) -> None:
        """Raise AccessDeniedException unless the caller may perform ``action`` on ``resource``.

        ``resource_account`` defaults to the caller's own account; a resource
        in another account needs an Allow in one of ``resource_policies`` too.
        ``trust_policy`` marks the resource policy as a role's trust policy,
        which must allow the caller even within the role's account.
        """
        from tocsin.iam.authorize import authorize

        authorize(
            self,
            action,
            resource,
            resource_account=resource_account or self.caller.account_id,
            resource_policies=resource_policies,
            conditions=conditions or {},
            trust_policy=trust_policy,
        )


@dataclass(frozen=True)
class OperationEntry:
    handler: Handler
    # Operations that AWS serves without a signature (none in Tocsin yet).
    authenticated: bool = True
    # A handler that never writes runs in a transaction that takes no write
    # lock on SQLite, so it runs beside writers instead of queuing behind them.
    read_only: bool = False


class ServiceHandlers:
    """The implemented operations of one service, by operation name."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.operations: dict[str, OperationEntry] = {}

    def operation(
        self, name: str, *, authenticated: bool = True, read_only: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler of operation ``name``.

        ``read_only=True`` promises that the handler writes nothing, so it runs
        in the transaction of ``Database.read``. That transaction takes no write
        lock on SQLite, where a write in it may fail with "database is locked".
        """

        def register(handler: Handler) -> Handler:
            if name in self.operations:
                raise ValueError(f"operation {self.service}.{name} is registered twice")
            self.operations[name] = OperationEntry(handler, authenticated, read_only)
            return handler

        return register
