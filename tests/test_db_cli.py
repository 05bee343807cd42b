"""The database's life cycle through the command line: creation, refusals, damage, backups."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import sessionmaker

from monitor.config import Settings
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.values import FeedSpec
from tests.conftest import PG_ADMIN_URL, postgres_or_skip
from tests.factories import NOW

PAGE_SIZE = 4096


def run_monitor(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=timeout,
    )


def write_config(directory: Path, url: str) -> Path:
    path = directory / "monitor.toml"
    path.write_text(f'[database]\nurl = "{url}"\n')
    return path


def make_database(path: Path, feeds: int = 1) -> None:
    """A migrated SQLite file with some feeds, closed (its write-ahead log checkpointed)."""
    engine = open_engine(Settings(database={"url": f"sqlite:///{path}"}).database)
    try:
        migrate.upgrade(engine)
        with sessionmaker(engine).begin() as session:
            specs = [FeedSpec(f"https://f{n}.example/rss") for n in range(feeds)]
            add_feeds(session, specs, 900, NOW)
    finally:
        engine.dispose()
    assert not path.with_name(path.name + "-wal").exists()


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "monitor.db"


class TestFreshDatabase:
    def test_any_command_creates_the_schema_and_its_directory(
        self, tmp_path: Path, db_file: Path
    ) -> None:
        """`feeds list` on a database that does not exist yet (nor its directory) creates both."""
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), "feeds", "list")
        assert result.returncode == 0, result.stderr
        engine = create_engine(f"sqlite:///{db_file}")
        try:
            assert migrate.current_revision(engine) == migrate.head_revision()
        finally:
            engine.dispose()

    def test_default_database_lands_in_var(self, tmp_path: Path) -> None:
        """With built-in defaults, a command creates var/monitor.db under the current directory."""
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        result = run_monitor(tmp_path, "feeds", "list", env=env)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "var" / "monitor.db").is_file()

    def test_empty_file_gets_the_schema(self, tmp_path: Path, db_file: Path) -> None:
        """A 0-byte file (an empty SQLite database) is given the schema too."""
        db_file.parent.mkdir()
        db_file.touch()
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), "feeds", "list")
        assert result.returncode == 0, result.stderr
        assert "feeds" in sqlite_tables(db_file)

    def test_postgres_empty_database_gets_the_schema(
        self, tmp_path: Path, postgres_url: str
    ) -> None:
        """An existing PostgreSQL database with no tables is given the schema by any command."""
        config = write_config(tmp_path, postgres_url)
        result = run_monitor(tmp_path, "--config", str(config), "feeds", "list")
        assert result.returncode == 0, result.stderr
        engine = create_engine(postgres_url)
        try:
            assert migrate.current_revision(engine) == migrate.head_revision()
        finally:
            engine.dispose()


def sqlite_tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    finally:
        connection.close()


class TestRefusals:
    def test_older_revision_names_both_revisions(self, tmp_path: Path, db_file: Path) -> None:
        """A database one migration behind is refused, naming its revision and the code's."""
        make_database(db_file)
        head = migrate.head_revision()
        assert head is not None
        (previous,) = migrate.revision_graph()[head]
        engine = open_engine(Settings(database={"url": f"sqlite:///{db_file}"}).database)
        migrate.downgrade(engine, previous)
        engine.dispose()
        before = db_file.read_bytes()
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), "feeds", "list")
        assert result.returncode == 1
        line = one_line(result)
        assert previous in line and head in line and "monitor db upgrade" in line
        assert db_file.read_bytes() == before

    def test_bad_config_leaves_no_file(self, tmp_path: Path, db_file: Path) -> None:
        """A command refused for a bad setting creates neither the database nor its directory."""
        config = tmp_path / "monitor.toml"
        config.write_text(f'[database]\nurl = "sqlite:///{db_file}"\n[parse]\nworkers = 0\n')
        result = run_monitor(tmp_path, "--config", str(config), "feeds", "list")
        assert result.returncode == 2
        assert not db_file.parent.exists()

    @pytest.mark.parametrize("args", [("db", "current"), ("db", "check"), ("db", "backup", "b")])
    def test_reading_commands_leave_no_file(
        self, tmp_path: Path, db_file: Path, args: tuple[str, ...]
    ) -> None:
        """Commands that only read say there is no database rather than creating an empty one."""
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), *args)
        assert "no file at" in result.stdout or "no database file" in result.stderr
        assert not db_file.exists() and not (tmp_path / "b").exists()

    def test_downgrade_on_a_new_file_leaves_nothing(self, tmp_path: Path, db_file: Path) -> None:
        """`db downgrade base` on a database that does not exist leaves no empty file behind."""
        db_file.parent.mkdir()
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), "db", "downgrade", "base")
        assert result.returncode == 0, result.stderr
        assert list(db_file.parent.iterdir()) == []


def damage_header(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"this is no database header")


def damage_length(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2 // PAGE_SIZE * PAGE_SIZE)


def damage_feeds_page(path: Path) -> None:
    """Overwrite the root page of the feeds table with noise; the rest of the file is intact."""
    connection = sqlite3.connect(path)
    try:
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'feeds'"
        ).fetchone()
    finally:
        connection.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * PAGE_SIZE)
        handle.write(bytes(range(256)) * (PAGE_SIZE // 256))


DAMAGES = {"bad header": damage_header, "truncated": damage_length, "page": damage_feeds_page}


class TestDamagedFile:
    @pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
    @pytest.mark.parametrize(
        "command", [("feeds", "list"), ("feeds", "remove", "https://f1.example/rss")]
    )
    def test_one_line_and_file_untouched(
        self, tmp_path: Path, db_file: Path, damage: object, command: tuple[str, ...]
    ) -> None:
        """A damaged file gives one line naming it and the way out, exit 1, and stays as it was."""
        make_database(db_file, feeds=60)
        damage(db_file)  # type: ignore[operator]
        before = db_file.read_bytes()
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), *command)
        assert result.returncode == 1
        line = one_line(result)
        assert str(db_file) in line and "damaged" in line
        assert "restore a backup" in line and "monitor db check" in line
        assert db_file.read_bytes() == before

    @pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
    def test_db_check_reports_damage(self, tmp_path: Path, db_file: Path, damage: object) -> None:
        """`db check` exits 1 and prints what SQLite found, without writing to the file."""
        make_database(db_file, feeds=60)
        damage(db_file)  # type: ignore[operator]
        before = db_file.read_bytes()
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        result = run_monitor(tmp_path, "--config", str(config), "db", "check")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr and str(db_file) in result.stdout
        assert "ok" not in result.stdout.split(": ", 1)[1].split()
        assert db_file.read_bytes() == before

    @pytest.mark.parametrize("quick", [False, True])
    def test_db_check_passes_a_sound_file(self, tmp_path: Path, db_file: Path, quick: bool) -> None:
        """`db check` (and `--quick`) print ok and exit 0 on a sound database."""
        make_database(db_file)
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        args = ["--config", str(config), "db", "check", *(["--quick"] if quick else [])]
        result = run_monitor(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{db_file}: ok"


class TestReadOnly:
    def test_read_only_database_is_refused_at_open(self, tmp_path: Path, db_file: Path) -> None:
        """A database that cannot be written (here opened `mode=ro`, -wal and -shm present) is
        refused by a writing command in one line, before it changes anything."""
        make_database(db_file)
        holder = sqlite3.connect(db_file)  # keeps -wal and -shm in place, as a crash would
        holder.execute("SELECT count(*) FROM feeds").fetchone()
        try:
            assert db_file.with_name("monitor.db-wal").exists()
            url = f"sqlite:///file:{db_file}?mode=ro&uri=true"
            config = write_config(tmp_path, url)
            result = run_monitor(
                tmp_path, "--config", str(config), "feeds", "add", "https://x.org/"
            )
            assert result.returncode == 1
            line = one_line(result)
            assert str(db_file) in line and "readonly" in line
        finally:
            holder.close()

    def test_run_fails_at_start_on_a_read_only_database(
        self, tmp_path: Path, db_file: Path
    ) -> None:
        """`monitor run` on a read-only database exits at once with one line, not a live service
        whose every job fails."""
        make_database(db_file)
        config = write_config(tmp_path, f"sqlite:///file:{db_file}?mode=ro&uri=true")
        result = run_monitor(
            tmp_path, "--config", str(config), "run", "--no-api", "--no-process", timeout=60
        )
        assert result.returncode == 1
        assert "readonly" in result.stderr.strip().splitlines()[-1]
        assert "Traceback" not in result.stderr


class TestBackup:
    def test_backup_is_a_working_copy(self, tmp_path: Path, db_file: Path) -> None:
        """`db backup PATH` writes a consistent copy holding the same rows; a second time it
        refuses to overwrite."""
        make_database(db_file, feeds=3)
        config = write_config(tmp_path, f"sqlite:///{db_file}")
        target = tmp_path / "copy.db"
        result = run_monitor(tmp_path, "--config", str(config), "db", "backup", str(target))
        assert result.returncode == 0, result.stderr
        assert f"backed up {db_file} to {target}" in result.stdout
        connection = sqlite3.connect(target)
        try:
            assert connection.execute("SELECT count(*) FROM feeds").fetchone() == (3,)
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            connection.close()
        again = run_monitor(tmp_path, "--config", str(config), "db", "backup", str(target))
        assert again.returncode == 1 and "already exists" in one_line(again)

    def test_postgres_backup_points_to_pg_dump(self, tmp_path: Path) -> None:
        """On PostgreSQL `db backup` names the pg_dump command, without the password."""
        url = "postgresql+psycopg://user:secret@db.example:5432/monitor"
        config = write_config(tmp_path, url)
        result = run_monitor(tmp_path, "--config", str(config), "db", "backup", "out.dump")
        assert result.returncode == 1
        line = one_line(result)
        assert "pg_dump" in line and "out.dump" in line and "secret" not in line
        assert "'postgresql://user@db.example:5432/monitor'" in line


@pytest.fixture
def missing_postgres_database() -> Iterator[str]:
    """The URL of a PostgreSQL database that does not exist yet; dropped after the test."""
    postgres_or_skip()
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
class TestPostgresUpgrade:
    def test_db_upgrade_creates_the_missing_database(
        self, tmp_path: Path, missing_postgres_database: str
    ) -> None:
        """`db upgrade` on PostgreSQL creates the database its URL names, then migrates it."""
        config = write_config(tmp_path, missing_postgres_database)
        result = run_monitor(tmp_path, "--config", str(config), "db", "upgrade")
        assert result.returncode == 0, result.stderr
        engine = create_engine(missing_postgres_database)
        try:
            assert "feeds" in inspect(engine).get_table_names()
            assert migrate.current_revision(engine) == migrate.head_revision()
        finally:
            engine.dispose()

    def test_other_commands_name_the_missing_database(
        self, tmp_path: Path, missing_postgres_database: str
    ) -> None:
        """Another command on a missing PostgreSQL database says so in one line, creating nothing."""
        config = write_config(tmp_path, missing_postgres_database)
        result = run_monitor(tmp_path, "--config", str(config), "feeds", "list")
        assert result.returncode == 1
        assert "does not exist; `monitor db upgrade` creates it" in one_line(result)
        admin = create_engine(PG_ADMIN_URL)
        try:
            with admin.connect() as connection:
                name = missing_postgres_database.rsplit("/", 1)[1]
                found = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).first()
            assert found is None
        finally:
            admin.dispose()
