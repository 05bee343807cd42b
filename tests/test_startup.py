"""What ingestion loads before its first cycle: an import check in a fresh interpreter, not a
timed test (bench/ingest.py measures the cold start against reader).

Not loaded: alembic when the database is new or already at head (the schema is created from the
models and stamped, or left alone), httpx's command-line client (click, rich, pygments), and
pebble until a document needs a worker process.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.startup import collection_paused

PROBE = """
import json, sys
from monitor.config import Settings
from monitor.ingest import open_ingestor
from monitor.storage import migrate
from monitor.storage.engine import open_engine

engine = open_engine(Settings(database={"url": sys.argv[1]}).database)
for _ in range(int(sys.argv[2])):
    migrate.upgrade(engine)
revision = migrate.current_revision(engine)
engine.dispose()
print("PROBE " + json.dumps({"revision": revision, "modules": sorted(sys.modules)}))
"""
NOT_LOADED = ("alembic", "click", "rich", "pygments", "pebble", "torch", "numpy")


def probe(url: str, upgrades: int) -> tuple[str, set[str]]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, url, str(upgrades)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(run.stdout.rsplit("PROBE ", 1)[1])
    return result["revision"], {name.split(".")[0] for name in result["modules"]}


def test_a_new_and_a_current_database_open_without_alembic(tmp_path: Path) -> None:
    from monitor.storage.migrate import head_revision

    url = f"sqlite:///{tmp_path / 'new.db'}"
    revision, modules = probe(url, 1)  # a new database: created and stamped
    assert revision == head_revision()
    assert not modules & set(NOT_LOADED)
    assert {"sqlalchemy", "httpx", "lxml"} <= modules  # the probe did import ingestion
    revision, modules = probe(url, 2)  # at head: left alone
    assert revision == head_revision()
    assert not modules & set(NOT_LOADED)


def test_a_database_behind_head_is_migrated_with_alembic(tmp_path: Path) -> None:
    from monitor.config import Settings
    from monitor.storage import migrate
    from monitor.storage.engine import open_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_engine(Settings(database={"url": url}).database)
    migrate.upgrade(engine, next(iter(migrate.revision_graph())))  # the first revision only
    engine.dispose()
    revision, modules = probe(url, 1)
    assert revision == migrate.head_revision()
    assert "alembic" in modules


def modules_loaded_by(imports: str) -> set[str]:
    """Every module a fresh interpreter has loaded after `import <imports>`."""
    code = f"import sys, {imports}; print(sorted(sys.modules))"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(run.stdout.split("'"))


def test_the_runtime_loads_no_command_line_client_of_httpx() -> None:
    """monitor.runtime (`monitor fetch`, `monitor run`) imports the alert senders, which import
    httpx too; monitor.fetch comes first, so httpx's client stays out."""
    modules = modules_loaded_by("monitor.runtime")
    assert "httpx" in modules
    assert not modules & {"rich", "pygments", "click"}


def test_fetching_without_processing_loads_no_processing_stage() -> None:
    """`monitor fetch --no-process` (monitor.cycle, monitor.runtime) imports neither numpy nor
    faiss nor the encoder: the processing stage loads when a processor is built."""
    modules = modules_loaded_by("monitor.cycle, monitor.runtime")
    assert "monitor.runtime" in modules
    assert not modules & {"numpy", "faiss", "monitor.process", "monitor.embed", "monitor.tagging"}


class TestCollectionPaused:
    """monitor.startup: the cyclic collector paused while a command starts, then resumed with
    what start-up built frozen, and everything undone when the command ends."""

    def test_paused_until_started_then_frozen_until_the_end(self) -> None:
        assert gc.isenabled() and gc.get_freeze_count() == 0
        with collection_paused() as started:
            assert not gc.isenabled()
            built = [[object()] for _ in range(1000)]  # tracked objects start-up leaves
            started()
            assert gc.isenabled()
            assert gc.get_freeze_count() >= len(built)
            started()  # a second call changes nothing
            assert gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() == 0

    def test_an_error_while_starting_resumes_collection(self) -> None:
        with pytest.raises(RuntimeError), collection_paused():
            assert not gc.isenabled()
            raise RuntimeError("the database would not open")
        assert gc.isenabled() and gc.get_freeze_count() == 0

    def test_a_collector_the_caller_disabled_stays_disabled(self) -> None:
        gc.disable()
        try:
            with collection_paused() as started:
                started()
                assert not gc.isenabled() and gc.get_freeze_count() == 0
            assert not gc.isenabled()
        finally:
            gc.enable()
