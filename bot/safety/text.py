"""Text → tokens with lemmas: the only place that knows about spelling.

Normalises case and ``ё``, maps Latin transliteration («ya ne hochu zhit») to Cyrillic,
splits a glued «не» («нехочу»), and lemmatises with pymorphy3 so that one lexicon entry
covers every word form. A word the dictionary does not know is also tried with one typo
fixed («хачу» → «хочу»), but only corrections that land on a lexicon lemma are kept, so a
typo can add a match and never invent an unrelated one.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

import pymorphy3

MAX_TOKENS = 30_000  # a 100 kB message is ~15k words; beyond this the tail is not read
MAX_TYPO_FIXES = 200  # per message: typo correction is the expensive part
_WORD = re.compile(r"[a-zа-я0-9']+|[.!?;\n]+", re.IGNORECASE)
_LATIN = re.compile(r"^[a-z']+$")
_RU = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
# Longest first: digraphs before single letters.
_TRANSLIT = [("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"), ("ts", "ц"),
             ("ya", "я"), ("ia", "я"), ("yu", "ю"), ("iu", "ю"), ("yo", "е"), ("ye", "е"), ("a", "а"), ("b", "б"),
             ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("j", "й"), ("k", "к"),
             ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"),
             ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "ц"), ("w", "в"), ("q", "к"), ("x", "х"), ("'", "ь")]
_VOWELS = set("аеиоуыэюя")


@dataclass(frozen=True)
class Token:
    text: str  # normalised surface form (Cyrillic, lower case, е for ё); "." for a clause break
    lemmas: frozenset[str]
    past: bool = False  # some reading is a past-tense verb
    infinitive: bool = False
    first_person: bool = False  # some reading is a first-person verb or pronoun («хочу», «я»)
    quoted: bool = False  # inside «…» or "…": someone else's words, a title

    @property
    def is_break(self) -> bool:
        return self.text in (".", "?")


BREAK = Token(".", frozenset({"."}))
QUESTION = Token("?", frozenset({"?"}))  # a clause break that ends a question: «мысли о суициде? нет»
_QUOTES = re.compile(r"«[^»]{1,200}»|\"[^\"]{1,200}\"|“[^”]{1,200}”|„[^“”]{1,200}[“”]")


_analyzer: pymorphy3.MorphAnalyzer | None = None
_analyzer_lock = threading.Lock()


def analyzer() -> pymorphy3.MorphAnalyzer:
    """One MorphAnalyzer per process (loading the dictionaries takes ~0.2 s and ~15 MB).

    Locked: the bot's first messages arrive on many database threads at once, and each would
    otherwise load its own copy (a second of CPU apiece under a burst).
    """
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                _analyzer = pymorphy3.MorphAnalyzer(lang="ru")
    return _analyzer


def transliterate(word: str) -> str:
    if len(word) > 2 and word[-1] == "i" and word[-2] in "aeou":  # «soboi», «moi» → собой, мой
        word = word[:-1] + "j"
    out, i = [], 0
    while i < len(word):
        if word[i] == "y" and not word.startswith(("ya", "yu", "yo", "ye"), i):  # «moy» → мой, «kryshe» → крыше
            out.append("й" if out and out[-1] in _VOWELS else "ы")
            i += 1
            continue
        for latin, cyr in _TRANSLIT:
            if word.startswith(latin, i):
                out.append(cyr)
                i += len(latin)
                break
        else:
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=50_000)
def _parse(word: str) -> tuple[frozenset[str], bool, bool, bool, bool]:
    parses = analyzer().parse(word)
    lemmas = frozenset(p.normal_form.replace("ё", "е") for p in parses) | {word}
    past = any("past" in p.tag for p in parses)
    infinitive = any(p.tag.POS == "INFN" for p in parses)
    first = any("1per" in p.tag and p.score >= 0.1 for p in parses)
    return lemmas, past, infinitive, analyzer().word_is_known(word), first


_MODIFIER_POS = {"PREP", "ADVB"}


@functools.lru_cache(maxsize=20_000)
def is_modifier(word: str) -> bool:
    """A word that would attach to a verb before it as a circumstance («жить в Москве», «жить
    вечно», «жить чужой жизнью»): a preposition, an adverb, or an instrumental form."""
    parses = [p for p in analyzer().parse(word) if p.score >= 0.1]
    return any(p.tag.POS in _MODIFIER_POS or p.tag.case == "ablt" for p in parses)


def _edits(word: str):
    for i in range(len(word) + 1):
        left, right = word[:i], word[i:]
        if right:
            yield left + right[1:]
        if len(right) > 1:
            yield left + right[1] + right[0] + right[2:]
        for letter in _RU:
            if right:
                yield left + letter + right[1:]
            yield left + letter + right


# Unstressed vowels are the most common misspelling, and it often yields another real word
# («хачу»), so known words are tried with these swaps too, but only towards the core lemmas.
_VOWEL_SWAPS = {"а": "о", "о": "а", "е": "и", "и": "е", "я": "е"}
CORE_LEMMAS = frozenset({"хотеть", "хотеться", "жить", "умереть", "умирать", "покончить", "повеситься",
                         "таблетка", "убить", "резать", "вена", "себя"})


def _vowel_swaps(word: str):
    for i, letter in enumerate(word):
        if letter in _VOWEL_SWAPS:
            yield word[:i] + _VOWEL_SWAPS[letter] + word[i + 1:]


@functools.lru_cache(maxsize=20_000)
def corrections(word: str, vocabulary: frozenset[str], *, known: bool = False) -> frozenset[str]:
    """Lemmas in ``vocabulary`` reachable from ``word`` by one edit (a known word: one vowel swap
    towards a core lemma)."""
    found = set()
    morph = analyzer()
    if known:
        vocabulary = vocabulary & CORE_LEMMAS
    for candidate in set(_vowel_swaps(word) if known else _edits(word)):
        if morph.word_is_known(candidate):
            found |= {p.normal_form.replace("ё", "е") for p in morph.parse(candidate)} & vocabulary
    return frozenset(found)


def _split_glued_negation(word: str, known: bool) -> list[str]:
    if not known and word.startswith("не") and len(word) > 4 and analyzer().word_is_known(word[2:]):
        return ["не", word[2:]]
    return [word]


def tokenize(text: str, *, vocabulary: frozenset[str] = frozenset()) -> list[Token]:
    """Tokens of ``text`` with their lemma sets; sentence punctuation becomes a clause break."""
    normalised = (text or "").lower().replace("ё", "е")
    tokens: list[Token] = []
    fixes = 0
    quotes = [m.span() for m in _QUOTES.finditer(normalised)]
    next_quote = 0
    for match in _WORD.finditer(normalised):
        if len(tokens) >= MAX_TOKENS:
            break
        raw = match.group(0)
        if raw[0] in ".!?;\n":
            if tokens and not tokens[-1].is_break:
                tokens.append(QUESTION if "?" in raw else BREAK)
            continue
        while next_quote < len(quotes) and quotes[next_quote][1] <= match.start():
            next_quote += 1
        quoted = next_quote < len(quotes) and quotes[next_quote][0] < match.start()
        translit = bool(_LATIN.match(raw))
        word = transliterate(raw) if translit else raw
        if not word:
            continue
        _, _, _, known, _ = _parse(word)
        for part in _split_glued_negation(word, known):
            lemmas, past, infinitive, known, first = _parse(part)
            variants = [part]
            if translit and part[-1] not in _VOWELS and not part.endswith("ь"):
                variants.append(part + "ь")  # transliteration usually drops the soft sign («zhit»)
            if translit and len(part) > 3 and part[-1] in "юяе" and part[-2] not in _VOWELS | {"ь", "ъ"}:
                variants.append(part[:-1] + "ь" + part[-1])  # «zhiznyu» → жизнью
            for variant in variants[1:]:
                extra, extra_past, extra_inf, _, _ = _parse(variant)
                lemmas, past, infinitive = lemmas | extra, past or extra_past, infinitive or extra_inf
            if 4 <= len(part) <= 14 and vocabulary and fixes < MAX_TYPO_FIXES:
                fixes += not known
                lemmas = lemmas | corrections(part, vocabulary, known=known)
            tokens.append(Token(part, lemmas, past, infinitive, first, quoted))
    return tokens
