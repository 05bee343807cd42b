"""Case-insensitive text matching that folds every script, not only ASCII.

SQLite's `LIKE` and `lower()` fold only ASCII letters, so "москва" would not find "Москва";
PostgreSQL's `lower()` folds by its character type (UTF-8 here). `unicode_lower(column)`
compiles to `lower()` on PostgreSQL and to a Python function registered on every SQLite
connection (`register_sqlite_functions`), so both fold the same way as `str.lower`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SQLITE_LOWER = "monitor_lower"


def python_lower(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    """`str.lower` for text; anything else (NULL, a number, a blob) unchanged."""
    return value.lower() if isinstance(value, str) else value


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    connection.create_function(SQLITE_LOWER, 1, python_lower, deterministic=True)


class unicode_lower(FunctionElement[str]):  # noqa: N801 - named like SQL functions in SQLAlchemy
    """`lower(x)` that folds every script on both databases."""

    type = String()
    name = "unicode_lower"
    inherit_cache = True


@compiles(unicode_lower)
def compile_lower(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def compile_sqlite_lower(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"
