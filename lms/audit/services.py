from __future__ import annotations

from typing import Any, Protocol

from lms.audit.models import AuditEntry
from lms.core.db import db


class Actor(Protocol):
    id: int
    display_name: str


def record(
    *,
    actor: Actor | None,
    action: str,
    target_type: str,
    target_id: object,
    org_path: str,
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction (it commits or rolls back with the change)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_name=actor.display_name if actor else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_label=target_label[:200],
        org_path=org_path,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def record_change(
    *,
    actor: Actor | None,
    action: str,
    target_type: str,
    target_id: object,
    target_label: str,
    org_path: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> AuditEntry | None:
    """Record only the fields that changed between two snapshots; nothing when nothing changed."""
    changed_before, changed_after = diff(before, after)
    if not changed_after:
        return None
    return record(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        org_path=org_path,
        before=changed_before,
        after=changed_after,
    )
