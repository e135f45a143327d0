"""Engines and sessions, one engine per database URL per process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, event, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, create_engine

from models.private_files import private_sqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the poller write while workers read; busy_timeout waits instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite(Path(path))  # raw mail and personal data: 0600, WAL and SHM too
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,  # bound values are mail content: never in an error's text
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pool_pre_ping: it costs a round trip per checkout (each mail checks out several
    # times). A connection the server dropped fails that one task, and Dramatiq's retries and
    # the sweeper redo it; pool_recycle replaces idle connections before server-side timeouts.
    # pool_size: a worker thread can hold two connections at once (its batch's, and the case
    # number's or the send mark's autocommitted statement); overflow ones are closed on return.
    return create_engine(
        url, pool_recycle=1800, pool_size=10, max_overflow=10, hide_parameters=True
    )


def error_text(error: BaseException) -> str:
    """An error as text safe to store (raw_message.reason) and show: a database error by its
    kind and the names it involves, never by values. Even with hide_parameters, PostgreSQL's
    own message carries them ("DETAIL: Key (identity)=(...) already exists", "invalid input
    syntax for type integer: \"...\"")."""
    if not isinstance(error, StatementError):
        return f"{type(error).__name__}: {error}"
    orig = error.orig
    text = f"{type(error).__name__}: {type(orig).__name__}"
    if not isinstance(error, DBAPIError):
        return text  # a value our side failed to bind: its message may quote the value
    diag = getattr(orig, "diag", None)  # psycopg: the server's structured fields
    if diag is not None:
        names = {
            "SQLSTATE": getattr(orig, "sqlstate", None),
            "table": diag.table_name,
            "column": diag.column_name,
            "constraint": diag.constraint_name,
        }
        return text + "".join(f"; {k} {v}" for k, v in names.items() if v)
    # SQLite's messages name constraints and columns, not values ("UNIQUE constraint failed:
    # raw_message.identity"); the first line only, without the statement.
    first = str(orig).splitlines()[0] if str(orig) else ""
    return f"{text}: {first}"[:500]


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model. SQLModel sets `__table__` on every `table=True` class
    but does not declare it, so type checkers cannot see it."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def insert_skipping_existing(session: Session, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's database (the two we run on spell it
    alike, but SQLAlchemy builds it per dialect)."""
    dialect_insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    return dialect_insert(table).on_conflict_do_nothing()


@dataclass
class Item:
    """How one item of a batch went: the error it raised in its savepoint, if it did."""

    error: Exception | None = None


@contextmanager
def each_item(session: Session, savepoints: bool) -> Iterator[Item]:
    """What one item of a batch runs in (see together_then_apart). Without savepoints an
    error is the whole batch's and propagates; in its own savepoint the item rolls back alone
    and the error is kept on the Item for the caller to set the item aside."""
    item = Item()
    if not savepoints:
        yield item
        return
    try:
        with session.begin_nested():
            yield item
    except Exception as e:
        item.error = e


def together_then_apart(run: Callable[[bool], T], what: str) -> T:
    """Run a batch in one transaction without savepoints, `run(False)`; when anything in it
    raises, the whole transaction has rolled back and the batch runs again with a savepoint per
    item, `run(True)`, where an item that fails is set aside and its neighbours go on.

    Savepoints only when needed: each SAVEPOINT and RELEASE is a round trip and makes the
    session flush, and items that fail are rare.
    """
    try:
        return run(False)
    except Exception as e:
        log.warning("%s: %s: %s; again with a savepoint per item", what, type(e).__name__, e)
        return run(True)


_INSERT_RETURNING_ID: dict[tuple[str, str, bool], Any] = {}


def insert_as_loaded(session: Session, obj: M, skip_existing: bool = False) -> M | None:
    """Write a new ORM object's row with one Core INSERT … RETURNING id, then attach the
    object to the session as if it had been loaded (no SQL): callers read and change it as
    before. The unit of work's insert and flush cost several times the statement itself.

    What the session holds pending is flushed first, so rows keep the order they were made in.
    `skip_existing`: INSERT … ON CONFLICT DO NOTHING, and None when a unique key is taken.
    """
    table = table_of(type(obj))
    key = (session.get_bind().dialect.name, table.name, skip_existing)
    if key not in _INSERT_RETURNING_ID:
        stmt = insert_skipping_existing(session, table) if skip_existing else insert(table)
        _INSERT_RETURNING_ID[key] = stmt.returning(table.c.id)
    session.flush()
    values = {c.key: getattr(obj, c.key) for c in table.columns if not c.primary_key}
    new_id = session.execute(_INSERT_RETURNING_ID[key], values).scalar()
    if new_id is None:
        return None
    obj.id = new_id
    make_transient_to_detached(obj)
    session.add(obj)
    return obj
