"""The hot statements: SQL compiled once per dialect by SQLAlchemy, run on the DBAPI cursor.

SQLAlchemy owns the schema, the SQL text, the types, the pool and the transaction. What it costs
per execution — parameter processing, execution context, result set-up: 60-100 µs a statement —
is several times what SQLite needs to run the statement itself, and an advance runs five of them.
For the few statements every advance, sweep step and bulk row runs, a `Prepared` keeps what
SQLAlchemy compiled (the SQL string, the bind order, each column type's bind and result
processors) and hands rows straight to the cursor of the caller's Connection, inside the
transaction that Connection began. DBAPI errors come back as SQLAlchemy's own exceptions, so
callers catch one kind either way. Everything else goes through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import JSON, TypeEngine

from .db import dumps, loads, statement_cursor

Processor = Callable[[Any], Any] | None
_MISSING = object()


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # bind names in the order the SQL takes them
    # per name, in that order: the value when a row has none (a literal in the statement, a
    # column default) or _MISSING
    lookups: tuple[tuple[str, Any], ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (bind index, bind processor)
    positional: bool
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, result processor)

    @cached_property
    def every(self) -> Callable[[Mapping[str, Any]], Any]:
        """A row's values when it has every bind (the common case): one C call, not a lookup
        per column."""
        if not self.names:  # a statement without binds
            return lambda row: ()
        if len(self.names) == 1:
            name = self.names[0]
            return lambda row: (row[name],)
        return itemgetter(*self.names)


class Prepared:
    """One statement; `columns` names an INSERT's columns (the others take their defaults)."""

    def __init__(self, statement: ClauseElement, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._plans: dict[str, _Plan] = {}

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        """The names of a SELECT's (or RETURNING's) columns, in order."""
        return tuple(c.key for c in getattr(self.statement, "exported_columns", ()))

    def run(self, conn: Connection, params: Mapping[str, Any], cursor: Any = None) -> Any:
        """Execute once; returns the DBAPI cursor (rowcount, fetch*), whose results last until
        the next statement run on the connection (db.statement_cursor) unless it was given
        its own `cursor` (statements in flight together, trips.pipelined)."""
        plan = self._plan(conn.dialect)
        if cursor is None:
            cursor = statement_cursor(conn)
        args = _args(plan, params)
        try:
            cursor.execute(plan.sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, plan, args, exc) from exc
        return cursor

    def run_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
        """Execute for every row; returns the number of rows the statement touched."""
        plan = self._plan(conn.dialect)
        cursor = statement_cursor(conn)
        args = [_args(plan, row) for row in rows]
        if not args:
            return 0
        try:
            cursor.executemany(plan.sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, plan, args[0], exc) from exc
        return int(cursor.rowcount)

    def rows(self, conn: Connection, params: Mapping[str, Any],
             make: Callable[[Iterable[Any]], Any] = tuple) -> list[Any]:
        """A SELECT's rows, each value through its column type's result processor, each row
        made by `make` from its values (a NamedTuple's `_make`: no tuple made only to be
        copied)."""
        return self.fetch(conn, self.run(conn, params), make)

    def fetch(self, conn: Connection, cursor: Any,
              make: Callable[[Iterable[Any]], Any] = tuple) -> list[Any]:
        """The rows of a `run` of this SELECT, as `rows` makes them: read after a pipelined
        block (trips.pipelined), they came with the block's one round trip."""
        plan = self._plan(conn.dialect)
        found = cursor.fetchall()
        if not plan.results:
            return found if make is tuple else [make(row) for row in found]
        processed = []
        for row in found:
            values = list(row)
            for index, process in plan.results:
                values[index] = process(values[index])
            processed.append(make(values))
        return processed

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.columns)
        assert isinstance(compiled, SQLCompiler)
        binds = compiled.binds
        names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
        static: dict[str, Any] = {}
        for name, bind in binds.items():
            if bind.callable is not None or bind.value is not None:
                static[name] = bind.effective_value
            elif not bind.required:
                static[name] = None  # an INSERT column left out of a row
        table = getattr(self.statement, "table", None)
        if self.columns is not None and table is not None:
            for column in table.columns:  # scalar Python-side defaults (status, late, ...)
                if column.key in binds and column.default is not None \
                        and column.default.is_scalar:
                    static[column.key] = column.default.arg
        bind_processors = (_processor(binds[name].type, dialect) for name in names)
        selected = getattr(self.statement, "exported_columns", ())  # SELECT or RETURNING
        processors = (_result_processor(c.type, dialect) for c in selected)
        results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        return _Plan(compiled.string, names,
                     lookups=tuple((name, static.get(name, _MISSING)) for name in names),
                     processors=tuple((i, p) for i, p in enumerate(bind_processors)
                                      if p is not None),
                     positional=dialect.positional, results=results)


class PreparedIn:
    """A statement with `IN (<list>)`: prepared for list lengths that are powers of two, the list
    padded with its last value, so that a handful of compiled forms serve every batch (an
    expanding bind would be compiled again for each new length)."""

    def __init__(self, build: Callable[[list[Any]], ClauseElement]) -> None:
        self.build = build  # the statement, given the list's bind parameters
        self._by_size: dict[int, tuple[Prepared, tuple[str, ...]]] = {}  # with its bind names

    def rows(self, conn: Connection, values: Sequence[Any],
             make: Callable[[Iterable[Any]], Any] = tuple) -> list[Any]:
        if not values:
            return []
        prepared, params = self._sized(values)
        return prepared.rows(conn, params, make)

    def run(self, conn: Connection, values: Sequence[Any],
            params: Mapping[str, Any] | None = None) -> Any:
        """Execute (an UPDATE, say) with `values` as the list and `params` for the statement's
        other binds; returns the DBAPI cursor as `Prepared.run` does (None for no values)."""
        if not values:
            return None
        prepared, listed = self._sized(values)
        return prepared.run(conn, {**(params or {}), **listed})

    def _sized(self, values: Sequence[Any]) -> tuple[Prepared, dict[str, Any]]:
        size = 1 << (len(values) - 1).bit_length()
        found = self._by_size.get(size)
        if found is None:
            names = tuple(f"_in{i}" for i in range(size))
            found = self._by_size[size] = (
                Prepared(self.build([bindparam(name) for name in names])), names)
        prepared, names = found
        padded = [*values, *[values[-1]] * (size - len(values))]
        return prepared, dict(zip(names, padded, strict=True))


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    if isinstance(type_, JSON) and dialect.name == "sqlite":
        # The engine's own serializer (open_engine sets it), without SQLAlchemy's two wrapping
        # calls, which only tell JSON.NULL and null() apart: these statements bind neither, and
        # None never reaches a processor (_args). A bulk row writes four JSON columns.
        # (psycopg wants its own Json wrapper: PostgreSQL keeps SQLAlchemy's processor.)
        return dumps
    if type_.python_type is datetime:
        # A batch stamps thousands of rows with the same few times: convert each once.
        return lru_cache(maxsize=256)(process)
    return process


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    if process is None:
        return None
    if isinstance(type_, JSON) and dialect.name == "sqlite":  # psycopg decodes JSON itself
        return _json_value
    if type_.python_type is datetime:
        # Due times are ends of working days: a batch reads a few distinct values many times.
        return lru_cache(maxsize=4096)(process)
    return process


def _json_value(stored: Any) -> Any:
    """A JSON column as SQLite returns it: text, or a number or NULL, which stand for
    themselves (as in SQLAlchemy's own SQLite JSON processor)."""
    return loads(stored) if isinstance(stored, str | bytes) else stored


def _args(plan: _Plan, params: Mapping[str, Any]) -> Any:
    try:
        values = list(plan.every(params))
    except KeyError:
        values = _with_defaults(plan, params)
    for index, process in plan.processors:
        value = values[index]
        if value is not None:
            values[index] = process(value)
    return tuple(values) if plan.positional else dict(zip(plan.names, values, strict=True))


def _with_defaults(plan: _Plan, params: Mapping[str, Any]) -> list[Any]:
    get = params.get
    values = [get(name, default) for name, default in plan.lookups]
    if _MISSING in values:
        missing = [name for (name, _), v in zip(plan.lookups, values, strict=True)
                   if v is _MISSING]
        raise KeyError(f"no value for {', '.join(map(repr, missing))} in {sorted(params)}")
    return values


def _wrapped(conn: Connection, plan: _Plan, args: Any, exc: Exception) -> Exception:
    dialect = conn.dialect
    return DBAPIError.instance(plan.sql, args, exc, dialect.loaded_dbapi.Error,
                               dialect=dialect, ismulti=False)
