"""Cursor pagination over UUIDv7 ids (creation order), stable under concurrent inserts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from callvault.core.schemas import Page, decode_cursor, encode_cursor

R = TypeVar("R")

MAX_LIMIT = 200


def paginate(
    session: Session,
    stmt: Select[Any],
    *,
    id_column: Any,
    limit: int,
    cursor: str | None,
    to_read: Callable[[Any], R],
) -> Page[R]:
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(id_column > after)
    rows: Sequence[Any] = session.scalars(stmt.order_by(id_column).limit(limit + 1)).all()
    items = [to_read(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page[R](items=items, next_cursor=next_cursor)
