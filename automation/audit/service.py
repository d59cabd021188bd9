"""The audit trail: events recorded in the transaction of the change they describe, read back per tenant.

Recording is a transactional outbox: the row commits or rolls back with the change, and `AuditPublisher`
copies committed rows to the Kafka audit topic afterwards.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from uuid_utils.compat import uuid7

from automation.audit import repository
from automation.audit.schemas import AuditActor, AuditEvent, AuditPage, Outcome
from automation.db import Connection
from falcone.http.problems import Problem


def new_event_id() -> str:
    return f"evt_{uuid7().hex}"


async def record(
    connection: Connection,
    *,
    actor: dict[str, Any],
    action: str,
    resource_type: str,
    resource_id: str,
    tenant_id: str | None,
    outcome: str,
    correlation_id: str,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Insert an audit event in the caller's transaction; returns its id.

    `actor` is `Principal.audit_actor()` (or a system actor of the same shape); `outcome` one of `Outcome`.
    """
    event_id = new_event_id()
    await repository.insert(
        connection,
        event_id=event_id,
        correlation_id=correlation_id,
        actor=AuditActor.model_validate(actor).model_dump(),
        resource_type=resource_type,
        resource_id=resource_id,
        tenant_id=tenant_id,
        action=action,
        outcome=Outcome(outcome).value,
        metadata=metadata or {},
    )
    return event_id


async def page(connection: Connection, filters: repository.Filters, *, cursor: str | None, limit: int) -> AuditPage:
    rows = await repository.query(connection, filters, after=decode_cursor(cursor), limit=limit + 1)
    items = [AuditEvent.of(row) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=encode_cursor(last["at"], last["event_id"]) if last else None)


def encode_cursor(at: datetime, event_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), event_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id = json.loads(raw)
        position = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise Problem(422, "the cursor is not one this API issued; start again without it") from None
    if position.tzinfo is None or not isinstance(event_id, str):
        raise Problem(422, "the cursor is not one this API issued; start again without it")
    return position, event_id
