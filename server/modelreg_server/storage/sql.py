"""Statements for the hot paths: SQLAlchemy Core, compiled once to asyncpg's
positional SQL and run on a raw asyncpg connection, whose prepared-statement
cache then does the rest.

The rest of the storage layer runs Core statements through SQLAlchemy's async
connection; these paths skip its per-call result processing (it measured more
than the query on a page of versions)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class Statement:
    """A Core construct compiled to ``$n`` SQL, run with named arguments.

    Bind parameters the construct names (``bindparam("project")``) are the call's
    arguments; values it carries itself (``state = 'READY'``, a filter's
    literals, ``LIMIT 1``) are anonymous binds that go with every call.
    """

    def __init__(self, stmt: ClauseElement) -> None:
        compiled = stmt.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        # Expanding parameters (``IN`` over a bound list) need a value at compile time.
        assert "POSTCOMPILE" not in self.sql, f"expanding parameter in a compiled statement: {stmt}"
        self.names: Sequence[str] = tuple(compiled.positiontup or ())
        params = compiled.params
        self._fixed = {n: params[n] for n in self.names if not compiled.binds[n].required}

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[n] if n in values else self._fixed[n] for n in self.names]


class StatementCache:
    """Compiled statements by a key that determines their SQL, least recently
    used first out. For statements built per call (a list with its filter and
    order): compiling costs more than running, and callers repeat themselves."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Statement] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], ClauseElement]) -> Statement:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        statement = Statement(build())
        self._items[key] = statement
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return statement
