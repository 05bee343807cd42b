"""Language identification with the py3langid model, behind the parser's `LanguageDetector`.

The model (and numpy with it) is loaded on first use, once per process and candidate set, so
importing this module costs nothing, and a parser worker that never detects never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

DETECTION_MIN_PROBABILITY = 0.6
# The model is as sure after a couple of thousand characters as after twenty thousand, and its
# cost grows with the text: a feed of long summaries spent a second of its budget here.
DETECTION_MAX_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Py3LangidDetector:
    """Detects the language of a text among `candidates` (all the model knows when empty);
    None when the model is less sure than `min_probability`. Reads the first `max_chars` of the
    text. Small and picklable: the model itself stays in the process that loaded it."""

    candidates: tuple[str, ...] = ()
    min_probability: float = DETECTION_MIN_PROBABILITY
    max_chars: int = DETECTION_MAX_CHARS

    def __call__(self, text: str) -> str | None:
        text = text[: self.max_chars]
        if not text.strip():
            return None
        language, probability = language_identifier(self.candidates).classify(text)
        return str(language) if probability >= self.min_probability else None

    def warm_up(self) -> None:
        """Load the model now, so that no later call pays for it."""
        language_identifier(self.candidates)


@cache
def language_identifier(candidates: tuple[str, ...]) -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if candidates:
        identifier.set_languages(list(candidates))
    return identifier


def is_model_loaded() -> bool:
    """Whether this process holds a language model (for the tests of lazy loading)."""
    return language_identifier.cache_info().currsize > 0
