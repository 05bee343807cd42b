"""The tagger's core is pure: built from values, no file, network or clock in its modules; the CLI
modules load numpy and the model only inside the commands that need them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.gazetteer import load_gazetteer
from monitor.relevance import RelevanceModel
from monitor.relevance_files import load_relevance_model, load_seed_index, open_tagger
from monitor.seeds import parse_seed
from monitor.tagging import Tagger, index_seeds, seed_cache_key
from tests.conftest import PROJECT_ROOT
from tests.fakes import BagOfWordsEmbedder

MONITOR = PROJECT_ROOT / "monitor"
# Modules whose docstring says they are pure, and the functions in them that are the file edge.
PURE_MODULES = {
    "tagging.py": set(),
    "relevance.py": set(),
    "calibrate.py": set(),
    "discover.py": set(),
    "seeds.py": {"read_seed", "list_seed_files"},
    "feedlist.py": {"load_feed_file"},
}
IMPURE_CALLS = frozenset(
    {
        "open",
        "read_bytes",
        "read_text",
        "write_text",
        "write_bytes",
        "read_toml",
        "mkdir",
        "exists",
        "glob",
        "unlink",
        "load",
        "save",
        "now",
        "utc_now",
        "time",
        "monotonic",
        "urlopen",
        "getaddrinfo",
    }
)
IMPURE_MODULES = frozenset({"socket", "httpx", "sqlalchemy", "os", "time", "monitor.clock"})


def impure_uses(source: str, allowed_functions: set[str]) -> list[str]:
    """Module-level imports and calls anywhere that reach a file, the network or the clock,
    outside the allowed top-level functions (a lazy import inside a thin alias is no I/O)."""
    found: list[str] = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            modules = (
                [statement.module or ""]
                if isinstance(statement, ast.ImportFrom)
                else [alias.name for alias in statement.names]
            )
            found += [
                f"import {m}"
                for m in modules
                if m in IMPURE_MODULES or m.split(".")[0] in IMPURE_MODULES
            ]
            continue
        owner = getattr(statement, "name", "<module>")
        if owner in allowed_functions:
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                called = node.func
                identifier = getattr(called, "attr", None) or getattr(called, "id", None)
                if identifier in IMPURE_CALLS:
                    found.append(f"{owner}: {identifier}()")
    return found


class TestPureModules:
    @pytest.mark.parametrize("module", sorted(PURE_MODULES))
    def test_no_file_network_or_clock(self, module: str) -> None:
        """A module whose docstring says "pure" opens no file, socket or clock (outside the
        functions it names as its file edge)."""
        source = (MONITOR / module).read_text(encoding="utf-8")
        assert impure_uses(source, PURE_MODULES[module]) == []

    def test_the_scan_finds_file_io(self) -> None:
        """The scan itself flags file reads, caches and clock reads."""
        source = (
            "import numpy as np\nfrom monitor.clock import utc_now\n"
            "def f(p):\n    return np.load(p), p.read_text(), utc_now()\n"
        )
        assert impure_uses(source, set()) == [
            "import monitor.clock",
            "f: load()",
            "f: read_text()",
            "f: utc_now()",
        ]


class TestTaggerFromValues:
    def test_tagger_built_from_values(self) -> None:
        """A Tagger built from in-memory seeds, weights and gazetteer tags without touching a
        file, and names the nearest seed."""
        embedder = BagOfWordsEmbedder()
        seeds = [
            parse_seed("havana", b"Russia and Cuba signed an energy agreement in Havana today."),
            parse_seed("lima", b"Peru's football league opened its new season in Lima today."),
        ]
        tagger = Tagger(
            gazetteer=load_gazetteer(PROJECT_ROOT / "config" / "gazetteer"),
            model=RelevanceModel({"both_sides": 8.0, "seed_similarity": 1.0}, -4.0, 0.5),
            seeds=index_seeds(seeds, embedder),
            embedder=embedder,
        )
        [result] = tagger.tag([("Russia and Cuba sign energy agreement", "")])
        assert result.relevant and list(result.countries) == ["CU"]
        nearest = result.reasons["nearest_seed"]
        assert isinstance(nearest, dict) and nearest["name"] == "havana"

    def test_loader_caches_seed_vectors(self, tmp_path: Path) -> None:
        """The loader embeds the seed folder once and reads the vectors back from the cache,
        under the key of the seed set and model."""
        seeds_dir = PROJECT_ROOT / "config" / "seeds" / "russia-latam"
        embedder = BagOfWordsEmbedder()
        first = load_seed_index(seeds_dir, embedder, tmp_path)
        again = load_seed_index(seeds_dir, embedder, tmp_path)
        assert embedder.calls == 1
        assert (again.vectors == first.vectors).all() and again.passage_seed == first.passage_seed
        [cache] = tmp_path.iterdir()
        assert cache.name == f"seeds-{seed_cache_key(first.seeds, embedder.model_id)}.npy"

    def test_open_tagger_reads_the_shipped_files(self) -> None:
        """open_tagger builds the same Tagger as its parts loaded one by one."""
        embedder = BagOfWordsEmbedder()
        config = PROJECT_ROOT / "config"
        tagger = open_tagger(
            config / "gazetteer",
            config / "relevance.toml",
            config / "seeds" / "russia-latam",
            embedder,
            None,
        )
        assert tagger.model == load_relevance_model(config / "relevance.toml")
        assert (
            tagger.seeds.digest
            == load_seed_index(config / "seeds" / "russia-latam", embedder, None).digest
        )


HEAVY = ("numpy", "torch", "sentence_transformers", "fastapi", "uvicorn", "monitor.embed")


class TestCliImports:
    @pytest.mark.parametrize("module", ["monitor.cli.feeds", "monitor.cli.tagging"])
    def test_cli_module_imports_nothing_heavy(self, module: str) -> None:
        """Importing a CLI module loads no numpy, model, FastAPI or alert modules."""
        probe = (
            f"import sys, {module}\n"
            f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY[:5]!r} "
            "or m in ('monitor.embed', 'monitor.process', 'monitor.runtime') "
            "or m.startswith('monitor.alerts')]\n"
            "print(' '.join(sorted(heavy)))\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        assert run.stdout.strip() == ""
