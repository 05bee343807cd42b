"""Integrity checks (the file opened read-only, so a damaged one is never written to) and
online backups of the SQLite file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from monitor.errors import StorageError

INTEGRITY_OK = "ok"
MAX_REPORTED_PROBLEMS = 100


def open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StorageError(f"no database file at {path}")
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


def check_integrity(path: Path, quick: bool = False) -> list[str]:
    """SQLite's `integrity_check` (or the faster `quick_check`): `["ok"]` or the problems found."""
    pragma = "quick_check" if quick else "integrity_check"
    try:
        with closing(open_read_only(path)) as connection:
            rows = connection.execute(f"PRAGMA {pragma}({MAX_REPORTED_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [str(row[0]) for row in rows]


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy the live database with SQLite's online backup API; returns the pages copied.

    Writers may keep working meanwhile: the copy is one consistent snapshot. The target must not
    exist yet; a failed copy leaves no partial file behind.
    """
    if not source.is_file():
        raise StorageError(f"no database file at {source}")
    if target.exists():
        raise StorageError(f"{target} already exists; choose a new file name")
    if not target.parent.is_dir():
        raise StorageError(f"no directory {target.parent} for the backup")
    pages = 0
    try:
        # Read-write only so that closing tidies the -wal and -shm files; nothing is written.
        with closing(sqlite3.connect(source)) as reader, closing(sqlite3.connect(target)) as writer:
            reader.backup(writer)
            pages = int(writer.execute("PRAGMA page_count").fetchone()[0])
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise StorageError(f"cannot back up {source}: {exc}") from None
    return pages
