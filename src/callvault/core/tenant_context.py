"""The tenant context of a session and the ORM hooks that enforce it.

Every query on a tenant-owned table gets ``tenant_id = <context>`` added automatically; a query without a context
raises instead of returning rows of every tenant. On PostgreSQL the context is also put into the transaction
(``app.tenant_id``), which the row-level security policies read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Delete, Select, Table, Update, event, text
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import Alias, FromClause, Join
from sqlalchemy.sql.util import find_tables
from sqlalchemy.sql.visitors import cloned_traverse

from callvault.core.errors import TenantContextMissing
from callvault.core.models import Base, TenantScoped

TENANT_KEY = "callvault.tenant_id"
POSTGRES_KEY = "callvault.postgres"
# Execution option that skips the ORM criterion (tests of the RLS backstop only): RLS still applies.
UNSCOPED = "callvault_unscoped"


def set_tenant(session: Session, tenant_id: uuid.UUID | None) -> None:
    """Bind the session to one tenant. Changing tenant flushes pending writes under the old context and drops
    everything loaded, so the identity map can never hand out an object of the previous tenant."""
    previous = session.info.get(TENANT_KEY)
    if previous is not None and previous != tenant_id:
        session.flush()
        session.expunge_all()
    session.info[TENANT_KEY] = tenant_id
    if session.info.get(POSTGRES_KEY) and session.in_transaction():
        session.connection().execute(
            text("SELECT set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id or "")}
        )


def bind_connection(conn: Connection, tenant_id: uuid.UUID) -> None:
    """Put the tenant into a plain connection's transaction on PostgreSQL (row-level security reads it); for
    readers outside the ORM, such as the audit verifier's worker processes."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id)})


def current_tenant(session: Session) -> uuid.UUID:
    tenant_id: uuid.UUID | None = session.info.get(TENANT_KEY)
    if tenant_id is None:
        raise TenantContextMissing("no tenant context on this session")
    return tenant_id


@contextmanager
def tenant(session: Session, tenant_id: uuid.UUID) -> Iterator[Session]:
    """Temporarily work in another tenant's context (e.g. the operator creating an institution's first admin)."""
    previous = session.info.get(TENANT_KEY)
    set_tenant(session, tenant_id)
    try:
        yield session
    finally:
        set_tenant(session, previous)


_tenant_tables_cache: tuple[int, frozenset[str]] = (-1, frozenset())


def _tenant_tables() -> frozenset[str]:
    global _tenant_tables_cache
    mappers = Base.registry.mappers
    if _tenant_tables_cache[0] != len(mappers):
        names = frozenset(
            m.local_table.name for m in mappers if issubclass(m.class_, TenantScoped) and hasattr(m.local_table, "name")
        )
        _tenant_tables_cache = (len(mappers), names)
    return _tenant_tables_cache[1]


@event.listens_for(Session, "after_begin")
def _put_tenant_in_transaction(session: Session, _transaction: Any, connection: Any) -> None:
    if session.info.get(POSTGRES_KEY):
        tenant_id = session.info.get(TENANT_KEY)
        connection.execute(text("SELECT set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id or "")})


@event.listens_for(Session, "do_orm_execute")
def _add_tenant_criterion(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(UNSCOPED):
        return
    # Look at every table the statement touches (columns, FROMs, joins, subqueries), not only the selected
    # entities: `select(func.count()).select_from(Model)` must be caught as well.
    touched = {
        t.name
        for t in find_tables(
            cast(ClauseElement, state.statement),
            check_columns=True,
            include_aliases=True,
            include_joins=True,
            include_selects=True,
            include_crud=True,
        )
        if hasattr(t, "name")
    }
    owned = touched & _tenant_tables()
    if not owned:
        return
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None:
        raise TenantContextMissing(f"query on tenant-owned {', '.join(sorted(owned))} without a tenant context")
    if state.is_orm_statement:
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
        )
    else:
        # Loader criteria only reach mapped entities: a Core statement on `Model.__table__` would otherwise read
        # every tenant's rows on SQLite (PostgreSQL's RLS is the only backstop there).
        state.statement = _scope_core_statement(cast(ClauseElement, state.statement), tenant_id)


def _is_tenant_table(element: FromClause) -> bool:
    return isinstance(element, Table) and element.name in _tenant_tables()


def _tenant_froms(element: FromClause) -> Iterator[FromClause]:
    """The tenant-owned tables (or aliases of them) a FROM item reads directly."""
    if isinstance(element, Join):
        yield from _tenant_froms(element.left)
        yield from _tenant_froms(element.right)
    elif _is_tenant_table(element) or (isinstance(element, Alias) and _is_tenant_table(element.element)):
        yield element


def _scope_core_statement(statement: ClauseElement, tenant_id: uuid.UUID) -> Any:
    """Add ``tenant_id = :tenant`` to every SELECT (nested ones included), UPDATE and DELETE on tenant tables."""

    def scope_select(select: Select[Any]) -> None:
        for from_ in select.get_final_froms():
            for table in _tenant_froms(from_):
                # In-place on the clone that cloned_traverse hands us; `where()` would return a copy.
                select._where_criteria += (table.c.tenant_id == tenant_id,)

    def scope_dml(dml: Update | Delete) -> None:
        if isinstance(dml.table, Table) and dml.table.name in _tenant_tables():
            dml._where_criteria += (dml.table.c.tenant_id == tenant_id,)

    return cloned_traverse(statement, {}, {"select": scope_select, "update": scope_dml, "delete": scope_dml})


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if tenant_id is None:
            raise TenantContextMissing(f"insert into {type(obj).__name__} without a tenant context")
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantContextMissing(f"insert into {type(obj).__name__} for another tenant")
    for obj in session.dirty:
        if isinstance(obj, TenantScoped) and tenant_id is not None and obj.tenant_id != tenant_id:
            raise TenantContextMissing(f"update of {type(obj).__name__} outside its tenant")
