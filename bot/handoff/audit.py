"""The audit log of staff actions: who, what, when, which ticket; never message text.

Every write happens inside the transaction of the action it records, so an action and its
audit row are written together or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database

from bot.handoff.models import AUDIT_ACTIONS, Actor, AuditAction, AuditEntry

AUDIT_COLUMNS = ("id", "at", "staff_id", "alias", "action", "ticket_id", "detail")
"""The audit table's columns, in the order exports write them."""
_DETAIL_MAX = 200
"""A detail names a topic, an action or a reason; it is never long enough to carry a message."""


def write_audit(
    db: Database,
    at: datetime,
    action: AuditAction,
    *,
    actor: Actor | None = None,
    staff_id: int | None = None,
    alias: str | None = None,
    ticket_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add one audit row (inside the caller's transaction)."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if actor is not None:
        staff_id, alias = actor.staff_id, actor.audit_name
    db.execute(
        "INSERT INTO audit (at, staff_id, alias, action, ticket_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [
            at.astimezone(UTC).isoformat(timespec="seconds"),
            staff_id,
            alias,
            action,
            ticket_id,
            None if detail is None else detail[:_DETAIL_MAX],
        ],
    )


def read_audit(
    db: Database, *, since: datetime | None = None, ticket_id: int | None = None
) -> list[AuditEntry]:
    """Return audit entries, oldest first, optionally from `since` on or about one ticket."""
    clauses, params = [], []
    if since is not None:
        clauses.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat(timespec="seconds"))
    if ticket_id is not None:
        clauses.append("ticket_id = ?")
        params.append(str(ticket_id))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    cursor = db.execute(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit {where} ORDER BY id", params)
    return [
        AuditEntry(
            id=row[0],
            at=datetime.fromisoformat(row[1]),
            staff_id=row[2],
            alias=row[3],
            action=row[4],
            ticket_id=row[5],
            detail=row[6],
        )
        for row in cursor.fetchall()
    ]
