from __future__ import annotations

from pathlib import Path

from monitor.relevance_files import load_seed_index
from monitor.seeds import clean_seed_text, read_seed, split_passages
from tests.conftest import PROJECT_ROOT
from tests.fakes import BagOfWordsEmbedder

NOISY = """Venezuela and Russia: For a better world

Presidents Putin and Maduro during the BRICS Summit in Kazan, Oct 23, 2024 Photo: EFE

Related:
Russia Supports Venezuela's Interest in Joining the BRICS

During their meeting, Maduro and Putin discussed strategies to strengthen bilateral cooperation.
@telesurenglish
— Nicolás Maduro (@NicolasMaduro) February 17, 2022
The alliance is strong. pic.twitter.com/2BQZ9cSd8t It covers energy, trade and defense projects.
I'm James Harper, a highly experienced news writer for World Stock Market.
"""


class TestCleaning:
    def test_boilerplate_removed_article_kept(self) -> None:
        """Captions, "Related:" links, embeds and author blurbs go; sentences stay."""
        paragraphs = clean_seed_text(NOISY)
        assert paragraphs == [
            "During their meeting, Maduro and Putin discussed strategies to strengthen bilateral cooperation.",
            "The alliance is strong.  It covers energy, trade and defense projects.",
        ]

    def test_passages_respect_the_size_limit(self) -> None:
        """Long paragraphs are split at sentence ends into passages of bounded size."""
        paragraph = " ".join(f"Sentence number {n} talks about Russia and Cuba." for n in range(30))
        passages = split_passages([paragraph], max_chars=200)
        assert all(len(p) <= 200 for p in passages) and len(passages) > 5
        assert " ".join(passages) == paragraph

    def test_shipped_seeds_all_load(self) -> None:
        """The five shipped seeds load and split into passages."""
        directory = PROJECT_ROOT / "config" / "seeds" / "russia-latam"
        seeds = [read_seed(p) for p in sorted(directory.glob("*.txt"))]
        assert len(seeds) == 5 and all(len(s.passages) >= 5 for s in seeds)


class TestSeedIndexCache:
    def test_vectors_cached_and_rebuilt_when_a_seed_changes(self, tmp_path: Path) -> None:
        """Passages are embedded once; editing a seed file rebuilds the vectors."""
        seeds, cache = tmp_path / "seeds", tmp_path / "cache"
        seeds.mkdir()
        (seeds / "one.txt").write_text(
            "Russia and Venezuela sign a long treaty on energy and defense.\n"
        )
        embedder = BagOfWordsEmbedder()
        first = load_seed_index(seeds, embedder, cache)
        load_seed_index(seeds, embedder, cache)
        assert embedder.calls == 1
        (seeds / "one.txt").write_text(
            "Putin receives Lula in Moscow to talk about trade and grain.\n"
        )
        second = load_seed_index(seeds, embedder, cache)
        assert embedder.calls == 2 and first.digest != second.digest
