"""Queries of saved views: inbox filters stored under a name (the filter as JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.feedback_values import SavedViewRecord
from monitor.storage.articles import dialect_insert
from monitor.storage.schema import SavedView


def view_record(row: SavedView) -> SavedViewRecord:
    return SavedViewRecord(row.name, json.loads(row.filter), row.created_at, row.updated_at)


def save_view(
    session: Session, name: str, filter_json: Mapping[str, Any], now: datetime
) -> SavedViewRecord:
    """Store `filter_json` under `name`, replacing the filter of a view of that name."""
    text = json.dumps(dict(filter_json), ensure_ascii=False, sort_keys=True)
    statement = dialect_insert(session)(SavedView).values(
        name=name, filter=text, created_at=now, updated_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SavedView.name], set_={"filter": text, "updated_at": now}
        )
    )
    return view_record(session.scalars(select(SavedView).where(SavedView.name == name)).one())


def list_views(session: Session) -> list[SavedViewRecord]:
    """Every saved view, by name."""
    return [view_record(v) for v in session.scalars(select(SavedView).order_by(SavedView.name))]


def get_view(session: Session, name: str) -> SavedViewRecord | None:
    row = session.scalars(select(SavedView).where(SavedView.name == name)).first()
    return view_record(row) if row else None


def get_views(session: Session, names: Sequence[str]) -> dict[str, SavedViewRecord]:
    """The saved views among `names`, by name (unknown names are absent)."""
    if not names:
        return {}
    rows = session.scalars(select(SavedView).where(SavedView.name.in_(list(names))))
    return {row.name: view_record(row) for row in rows}


def delete_view(session: Session, name: str) -> bool:
    """Remove a view; False when there was none of that name."""
    result = session.execute(delete(SavedView).where(SavedView.name == name))
    return bool(result.rowcount)  # type: ignore[attr-defined]
