"""The py3langid detector behind the parser's LanguageDetector (the real model)."""

from __future__ import annotations

import pickle

from monitor.langid import Py3LangidDetector

ENGLISH = "Russia and Brazil sign a new trade agreement in Moscow. "
SPANISH = "Rusia y Brasil firman un nuevo acuerdo comercial en Moscú. "


class TestPy3LangidDetector:
    def test_detects_among_candidates(self) -> None:
        """A clear sentence gets its language; an empty text gets none."""
        detector = Py3LangidDetector(("en", "es", "pt", "ru"))
        assert (detector(SPANISH), detector("  ")) == ("es", None)

    def test_reads_only_the_first_characters(self) -> None:
        """Past `max_chars` the text is not read, so a long summary costs no more."""
        detector = Py3LangidDetector(("en", "es"), max_chars=len(ENGLISH))
        assert detector(ENGLISH + SPANISH * 50) == "en"

    def test_unsure_is_none(self) -> None:
        """Below the minimum probability the detector says nothing."""
        assert Py3LangidDetector(("en", "es"), min_probability=1.01)(ENGLISH) is None

    def test_pickles_without_the_model(self) -> None:
        """The detector sent to each parser process is a few bytes, not the model."""
        detector = Py3LangidDetector(("en", "es"))
        detector.warm_up()
        assert len(pickle.dumps(detector)) < 300
        assert pickle.loads(pickle.dumps(detector)) == detector
