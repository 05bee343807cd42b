"""What an article says that two reports of one event share: named actors and places, numbers,
content words and the language they are written in. Pure: text in, frozen sets out.

Words are reduced to a short stem on one spelling skeleton for every script, so that an
inflection ("Maduros", "Венесуэлы") or a transliteration ("Путин" / "Putin", "Гавана" /
"Havana") meets its other form. Capitalised words inside a sentence are surely names; those
opening a sentence, or in a headline written in title case, only maybe. The language is guessed
from the function words (and the script), only to know whether two texts can share words at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

# Evidence is read from the title and the start of the summary (where news names its event).
EVIDENCE_CHARS = 400
STEM_CHARS = 5
MIN_WORD_CHARS = 3
# A headline is in title case when this share of its longer content words is capitalised.
TITLE_CASE_SHARE = 0.7
TITLE_CASE_MIN_WORDS = 3
# A language is guessed when its function words outnumber every other's by this many.
LANGUAGE_MARGIN = 2
STEM_CACHE = 1 << 16  # words seen recently: news repeats its names

WORD = re.compile(r"[^\W\d_][\w'’\-]*", re.UNICODE)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
POSSESSIVE = re.compile(r"['’]s$")
SENTENCE_MARKS = frozenset('.!?:;«»"“”()[]|–—')

FUNCTION_WORDS = {
    "en": "the a an and or but of to in on at by for from with as is are was were be been has "
    "have had will would can could not no this that these those it its he she they his her their "
    "we our you who which what after before over into about than says said also new amid",
    "es": "el la los las un una unos unas y o de del al a en por para con sin sobre entre tras es "
    "son fue ser ha han se su sus que lo le les como más muy ya no este esta estos estas dice dijo "
    "según hasta desde cuando donde",
    "pt": "o os as um uma uns umas e ou de do da dos das no na nos nas em por para com sem sobre "
    "entre após é são foi ser tem seu sua seus suas que como mais muito já não este esta isso diz "
    "disse segundo até desde quando onde pelo pela ao aos à",
    "ru": "и в во на с со к по о об от до из за для без при над под про что как это этот эта "
    "эти тот не ни же ли бы был была были быть есть он она они его ее её их мы вы а но или да уже "
    "также так еще ещё все всё заявил заявила сообщил после между через",
    "de": "der die das den dem des ein eine einer eines einem einen und oder aber von zu im auf "
    "bei mit ohne für aus nach vor über unter ist sind war waren wird werden hat haben nicht auch "
    "wie dass sich",
    "fr": "le la les un une des et ou du au aux dans par pour avec sans sur sous est sont été être "
    "ont ne pas qui se son sa ses leur leurs il elle ils elles nous vous plus",
}
LANGUAGE_OF_WORD: dict[str, set[str]] = {}
for _language, _words in FUNCTION_WORDS.items():
    for _word in _words.split():
        LANGUAGE_OF_WORD.setdefault(_word, set()).add(_language)
STOP_WORDS = frozenset(LANGUAGE_OF_WORD)

# Russian letters in Latin, one sound each ("-": the hard and soft signs, dropped).
RUSSIAN_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
LATIN_SOUNDS = "a b v g d e e zh z i i k l m n o p r s t u f h ts ch sh shch - y - e yu ya"
CYRILLIC_LATIN = dict(zip(RUSSIAN_LETTERS, LATIN_SOUNDS.split(), strict=True))
# One skeleton for both scripts: letters that transliteration renders in several ways meet.
DIGRAPHS = (
    ("shch", "sh"),
    ("kh", "h"),
    ("ph", "f"),
    ("th", "t"),
    ("ck", "k"),
    ("x", "ks"),
    ("-", ""),
)
LETTERS = str.maketrans("cqzwbhjy", "kksvvgii")
VOWELS = frozenset("aeiou")
NAME_KEY_CHARS = 4


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one article says that two reports of one event would share."""

    names: frozenset[str]  # capitalised inside a sentence: surely a name
    numbers: frozenset[str]
    openers: frozenset[str] = frozenset()  # capitalised at a sentence's or title's start: maybe
    title_words: frozenset[str] = frozenset()  # content-word stems of the title
    words: frozenset[str] = frozenset()  # content-word stems of title and summary start
    language: str | None = None  # guessed; None: too little text to tell
    # names and openers together, kept once: a pair's shared names are looked up per candidate
    known_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "known_names", self.names | self.openers)


@lru_cache(maxsize=STEM_CACHE)
def skeleton(word: str) -> str:
    """Case, accents and script folded to one spelling (doubled letters once)."""
    folded = unicodedata.normalize("NFKD", word.casefold())
    latin = "".join(CYRILLIC_LATIN.get(c, c) for c in folded if not unicodedata.combining(c))
    for written, spoken in DIGRAPHS:
        latin = latin.replace(written, spoken)
    letters = POSSESSIVE.sub("", latin).translate(LETTERS).strip("'’")
    return "".join(c for i, c in enumerate(letters) if i == 0 or c != letters[i - 1])


@lru_cache(maxsize=STEM_CACHE)
def stem(word: str) -> str:
    """A content word's stem: its skeleton cut to STEM_CHARS."""
    return skeleton(word)[:STEM_CHARS]


@lru_cache(maxsize=STEM_CACHE)
def name_key(word: str) -> str:
    """A name's key: its first letter and the consonants after it, so that transliterations
    ("Россия" / "Russia", "Колумбия" / "Colombia") and vowel endings ("Путина") meet."""
    letters = skeleton(word)
    consonants = "".join(c for c in letters[1:] if c not in VOWELS and c.isalpha())
    return (letters[:1] + consonants)[:NAME_KEY_CHARS]


def is_title_case(title: str) -> bool:
    """Most content words after the first capitalised ("Putin Hosts Maduro In Moscow")."""
    long_words: list[str] = [w for w in WORD.findall(title)[1:] if len(w) > MIN_WORD_CHARS]
    content = [w for w in long_words if w.casefold() not in STOP_WORDS]
    if len(content) < TITLE_CASE_MIN_WORDS:
        return False
    return bool(sum(w[0].isupper() for w in content) >= TITLE_CASE_SHARE * len(content))


def guess_language(function_words: list[str], words: int, cyrillic: int) -> str | None:
    """The language whose function words clearly dominate; mostly Cyrillic text is Russian."""
    votes: dict[str, int] = {}
    for word in function_words:
        for language in LANGUAGE_OF_WORD[word]:
            votes[language] = votes.get(language, 0) + 1
    ranked = [*sorted(votes.values(), reverse=True), 0, 0]
    if ranked[0] >= ranked[1] + LANGUAGE_MARGIN:
        return max(votes, key=votes.__getitem__)
    return "ru" if words and cyrillic * 2 > words else None


def opens_sentence(text: str, start: int) -> bool:
    """Whether the word at `start` follows nothing or a sentence mark (spaces skipped)."""
    before = start - 1
    while before >= 0 and text[before].isspace():
        before -= 1
    return before < 0 or text[before] in SENTENCE_MARKS


def gather_evidence(title: str, summary: str) -> Evidence:
    """Names (sure and maybe), numbers, content words and language of an article, in one pass
    over its title and the start of its summary."""
    text = f"{title}. {summary}"[:EVIDENCE_CHARS]
    title_case = is_title_case(title)
    names: set[str] = set()
    openers: set[str] = set()
    title_words: set[str] = set()
    words: set[str] = set()
    function_words: list[str] = []
    count = cyrillic = 0
    for match in WORD.finditer(text):
        word = match.group(0).strip("'’-")
        folded = word.casefold()
        count += 1
        cyrillic += "а" <= folded[:1] <= "я"
        if folded in STOP_WORDS:
            function_words.append(folded)
            continue
        if len(word) < MIN_WORD_CHARS:
            continue
        in_title = match.start() < len(title)
        stemmed = stem(word)
        words.add(stemmed)
        if in_title:
            title_words.add(stemmed)
        if word[0].isupper():
            maybe = opens_sentence(text, match.start()) or (
                title_case and in_title and not word.isupper()
            )
            (openers if maybe else names).add(name_key(word))
    numbers = {n.replace(",", ".") for n in NUMBER.findall(text) if len(n) < 12}
    return Evidence(
        frozenset(names),
        frozenset(numbers),
        frozenset(openers - names),
        frozenset(title_words),
        frozenset(words),
        guess_language(function_words, count, cyrillic),
    )
