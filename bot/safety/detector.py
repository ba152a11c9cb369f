"""The offline crisis detector: morphology-aware rules, organised by category.

``detect(text)`` returns a ``Verdict`` naming the category, the rule and the matched words
(evidence for staff). It is deterministic, needs no network and runs on every member
message before anything else. Callers must never log the evidence: it is the member's words.

A rule is a short pattern over lemmas (``Seq``: in order, small gaps, within one clause;
``Near``: together within a window). A match is discarded when the words around it say
it is not about the member's own life: a negation before it («не хочу умирать»), a
negated intent after it («убивать себя не стану»), an idiom («умираю от смеха», «чуть не
умерла со стыда», «умереть для старой себя»), or a crisis that is explicitly over.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from . import lexicon as lx
from .text import Token, is_modifier, tokenize

EXPLICIT, INDIRECT, METHOD, FAREWELL, SELF_HARM, ACUTE, VIOLENCE = (
    "explicit", "indirect", "method", "farewell", "self_harm", "acute", "violence")
CATEGORIES = (EXPLICIT, INDIRECT, METHOD, FAREWELL, SELF_HARM, ACUTE, VIOLENCE)
CATEGORY_LABELS = {EXPLICIT: "явное суицидальное намерение", INDIRECT: "косвенное намерение",
                   METHOD: "способ и намерение", FAREWELL: "прощание, приготовления", SELF_HARM: "самоповреждение",
                   ACUTE: "острая опасность сейчас", VIOLENCE: "насилие или угрозы"}
Slot = Callable[[Token], bool]


@dataclass(frozen=True)
class Verdict:
    risk: bool
    category: str = ""
    rule: str = ""
    evidence: tuple[str, ...] = ()
    acute: bool = False

    def describe(self) -> str:
        """For staff: category and the matched words (member text: never log it)."""
        if not self.risk:
            return "риск не найден"
        return f"{CATEGORY_LABELS.get(self.category, self.category)}: «{' … '.join(self.evidence)}» ({self.rule})"


NO_RISK = Verdict(False)


# --- slots -----------------------------------------------------------------------------------

# A slot built below knows the words it can match (``slot.words``): a token it accepts has one of
# them among its lemmas (a token's own surface form is one of its lemmas). A rule none of whose
# such words occur in the message cannot match and is skipped without a scan (``Rule.possible``).
# A slot written as a bare lambda has no ``words`` and never rules a message out.

def _knowing(slot: Slot, words: frozenset[str] | None) -> Slot:
    if words is not None:
        slot.words = words  # type: ignore[attr-defined]
    return slot


def L(*groups) -> Slot:
    """Any lemma from the given words or sets."""
    words = frozenset().union(*({g} if isinstance(g, str) else g for g in groups))
    return _knowing(lambda t: bool(t.lemmas & words), words)


def S(*surfaces: str) -> Slot:
    """Exactly this surface form (when the case matters: «себя», not «в себе»)."""
    words = frozenset(surfaces)
    return _knowing(lambda t: t.text in words, words)


def PAST(slot: Slot) -> Slot:
    return _knowing(lambda t: t.past and slot(t), getattr(slot, "words", None))


def INF(slot: Slot) -> Slot:
    return _knowing(lambda t: t.infinitive and slot(t), getattr(slot, "words", None))


NEG = L(lx.NEGATION)


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    slots: tuple[Slot, ...]
    ordered: bool = True
    gap: int = 2  # ordered: at most this many words between two slots
    window: int = 7  # unordered: all slots within this many words
    negatable: bool = True  # a negation before it cancels the match
    idioms: bool = True  # idiom and "old self" contexts cancel the match
    acute: bool = False
    end: bool = False  # the last slot must close the clause («не хочу жить», not «… жить в Москве»)
    unless_next: Slot | None = None  # the word right after the last slot cancels the match
    unless_clause: Slot | None = None  # any word of the clause cancels the match

    @functools.cached_property
    def _needs(self) -> tuple[frozenset[str], ...]:
        return tuple(slot.words for slot in self.slots if hasattr(slot, "words"))

    def possible(self, lemmas: frozenset[str]) -> bool:
        """Whether every slot that knows its words finds one among ``lemmas`` (all the message's):
        every slot of a match must accept some token, so otherwise ``find`` returns None."""
        return all(not needed.isdisjoint(lemmas) for needed in self._needs)

    def find(self, tokens: list[Token], lemmas: frozenset[str] | None = None) -> list[int] | None:
        """The matched token positions, or None. ``lemmas`` (every lemma of the message) lets a rule
        that cannot match return at once (``possible``)."""
        if lemmas is not None and not self.possible(lemmas):
            return None
        search = self._ordered if self.ordered else self._near
        for start, token in enumerate(tokens):
            if self.ordered and not self.slots[0](token):
                continue
            if not self.ordered and not any(slot(token) for slot in self.slots):
                continue  # an unordered match starts on one of its own words
            found = search(tokens, start)
            if found and self._accepts(tokens, found):
                return found
        return None

    def _ordered(self, tokens: list[Token], start: int) -> list[int] | None:
        def extend(at: int, slot_index: int) -> list[int] | None:
            if slot_index == len(self.slots):
                return []
            for j in range(at, min(len(tokens), at + self.gap + 1)):
                if tokens[j].is_break:
                    return None
                if self.slots[slot_index](tokens[j]):
                    rest = extend(j + 1, slot_index + 1)
                    if rest is not None:
                        return [j, *rest]
            return None

        rest = extend(start + 1, 1)
        return [start, *rest] if rest is not None else None

    def _near(self, tokens: list[Token], start: int) -> list[int] | None:
        window = []
        for j in range(start, min(len(tokens), start + self.window)):
            if tokens[j].is_break:
                break
            window.append(j)
        picked: list[int] = []
        for slot in self.slots:
            hit = next((j for j in window if j not in picked and slot(tokens[j])), None)
            if hit is None:
                return None
            picked.append(hit)
        return sorted(picked) if picked[0] == start or start in picked else None

    def _accepts(self, tokens: list[Token], found: list[int]) -> bool:
        first, last = found[0], found[-1]
        clause = _clause(tokens, first)
        if self.end and (not _clause_ends(tokens, last + 1) or
                         any(tokens[j].text in _MANNER for j in range(first + 1, last))):
            return False  # «не хочу так жить»: how, not whether
        if self.unless_next and last + 1 < len(tokens) and self.unless_next(tokens[last + 1]):
            return False
        if self.unless_clause and any(self.unless_clause(tokens[j]) for j in clause):
            return False
        if self.negatable and (_negated(tokens, first, last, clause) or _negated_inside(tokens, found)):
            return False
        if self.slots[0] is NEG and _predicate_repeated(tokens, found, self.slots[1]):
            return False
        if self.idioms and _idiomatic(tokens, first, last, clause):
            return False
        if self.category == VIOLENCE and _news(tokens, clause):
            return False
        if self.category != VIOLENCE and _not_about_me(tokens, found, clause, subjects=self.category != FAREWELL):
            return False
        return not _resolved_in_past(tokens, first, last)


_WORLD = L("мир", "свет", "земля")


_MANNER = frozenset({"так", "как", "там", "иначе", "здесь", "тут"})


def _clause_ends(tokens: list[Token], at: int) -> bool:
    """Nothing modifies the verb: after filler words (or «в этом мире», «на этом свете») the clause
    ends or goes on with something that does not attach to it as a circumstance («не хочу жить,
    и это пугает»), unlike «жить в Москве», «жить вечно», «жить чужой жизнью»."""
    while at < len(tokens) and not tokens[at].is_break:
        token = tokens[at]
        if token.text in ("в", "на") and any(_WORLD(t) for t in tokens[at + 1:at + 3]):
            at += 3 if at + 2 < len(tokens) and _WORLD(tokens[at + 2]) else 2
            continue
        if not (token.lemmas & lx.LIVE_TAIL):
            return token.text in ("и", "а", "но") or not (is_modifier(token.text) or token.lemmas & lx.LIVE_MANNER)
        at += 1
    return True


def _clause(tokens: list[Token], at: int) -> range:
    start = at
    while start > 0 and not tokens[start - 1].is_break:
        start -= 1
    end = at
    while end + 1 < len(tokens) and not tokens[end + 1].is_break:
        end += 1
    return range(start, end + 1)


_THOUGHT_NOUNS = frozenset({"мысль", "желание", "план", "намерение", "идея", "тяга", "попытка"})
_UNTIL = S("рано", "раньше", "вовремя", "до", "в", "от", "сам", "сама", "без", "по")  # «не просыпаться до обеда»
_INTENT = L("думать", "собираться", "планировать", "стать", "хотеть", "хотеться", "делать", "сделать",
            "причинить", "мысль", "смочь")
_JOKE_CAUSE = L(lx.IDIOM_CAUSE)


# Words that may stand between a negation and what it negates («не очень хочу», «никогда бы не»).
_NEG_FILLER = frozenset({"очень", "особо", "сильно", "так", "то", "уж", "уже", "больше", "совсем", "вообще", "бы",
                         "чтобы", "я", "мне", "разу", "ни", "никогда", "не", "у", "меня"})  # «нет у меня желания»


def _negated(tokens: list[Token], first: int, last: int, clause: range) -> bool:
    # A negation reaches the match only through filler words: «не хочу умереть» is negated,
    # «не понимаю, зачем я живу» is not (the «не» belongs to «понимаю»).
    for j in range(max(clause.start, first - 3), first):
        if NEG(tokens[j]) and all(tokens[k].text in _NEG_FILLER for k in range(j + 1, first)):
            return True
    # «мысли о суициде? нет, такого нет»: a question answered with a denial.
    stop = clause.stop
    if stop + 1 < len(tokens) and tokens[stop].text == "?" and tokens[stop + 1].text in ("нет", "никогда", "не"):
        return True
    # «я не собираюсь …», «никогда не думала о том, чтобы …»: a negated intent earlier in the clause.
    # A fresh intent verb in between ends its reach: «не хочу его видеть, хочу, чтобы всё прекратилось».
    for j in range(clause.start, first):
        if NEG(tokens[j]) and j + 1 < first and _INTENT(tokens[j + 1]) and \
                not any(_INTENT(tokens[k]) for k in range(j + 2, first + 1)):
            return True
    # «убивать себя я не стану»: a negated intent right after; «суицидальных мыслей нет».
    # (Not after «и / а / но»: «устала от жизни и не хочу больше ничего» is a new predicate.)
    after = [j for j in range(last + 1, min(clause.stop, last + 4)) if tokens[j - 1].text not in ("и", "а", "но")]
    # «суицидальных мыслей нет», not «скорее бы умереть, сил нет» (the «нет» is about something else).
    if last + 1 in clause and tokens[last + 1].text == "нет":
        return True
    if last + 2 in clause and tokens[last + 2].text == "нет" and tokens[last + 1].lemmas & _THOUGHT_NOUNS:
        return True
    return any(NEG(tokens[j]) and j + 1 in clause and _INTENT(tokens[j + 1]) for j in after)


def _negated_inside(tokens: list[Token], found: list[int]) -> bool:
    """«меня никто не бьет»: a negation right before a later word of the match negates it."""
    return any(NEG(tokens[j - 1]) and j - 1 not in found for j in found[1:])


def _predicate_repeated(tokens: list[Token], found: list[int], predicate: Slot) -> bool:
    """«не хочу умирать, хочу жить»: a second «хочу» ends the first negation's reach."""
    return any(predicate(tokens[j]) for j in range(found[1] + 1, found[-1]))


_THIRD_PERSON = S("он", "она", "они", "оба", "герой", "героиня", "персонаж", "мужчина", "женщина", "девушка",
                  "парень", "подросток", "кто", "который", "которая", "которые", "кот", "кошка", "собака", "пес",
                  "девочка", "мальчик", "ребенок")
_SPEAKER = L("я", "мы")  # «мой кот прыгнул»: a possessive does not make the member the subject
_TOPIC = S("про", "о", "об", "после")
_FIRST_PERSON = L("я", "мы", "мой", "наш")


def _news(tokens: list[Token], clause: range) -> bool:
    """«в новостях пишут, что мужчина угрожал соседу ножом»: media, and nobody in it is the member."""
    return any(tokens[j].lemmas & lx.MEDIA for j in clause) and \
        not any(_FIRST_PERSON(tokens[j]) or tokens[j].first_person for j in clause)


def _not_about_me(tokens: list[Token], found: list[int], clause: range, *, subjects: bool = True) -> bool:
    """Someone else's words or life: a quoted title or line («песня "хочу умереть"»), a story
    about someone («она бросилась под поезд», «про тех, кто пережил попытку»), or a topic of a
    film or an article («документалка про передозировки»). Never when the member speaks of
    themselves in the same stretch («он ушел, и я не хочу жить»)."""
    first, last = found[0], found[-1]
    if all(tokens[j].quoted for j in found):
        return any(tokens[j].lemmas & lx.MEDIA or tokens[j].lemmas & lx.SPEECH
                   for j in clause if not tokens[j].quoted)
    end = min(clause.stop, last + 3)
    # (Not for farewells: «отдала кота, мне он больше не понадобится» — the thing is the subject.)
    others = [j for j in range(max(clause.start, first - 4), first) if subjects and _THIRD_PERSON(tokens[j])]
    if others and not any(_SPEAKER(tokens[j]) or tokens[j].first_person for j in range(others[-1], end)):
        return True
    if any(_FIRST_PERSON(tokens[j]) or tokens[j].first_person for j in range(max(clause.start, first - 4), end)):
        return False
    return any(_TOPIC(tokens[j]) for j in range(max(clause.start, first - 3), first)) and \
        any(tokens[j].lemmas & lx.MEDIA for j in clause)


def _idiomatic(tokens: list[Token], first: int, last: int, clause: range) -> bool:
    prefix = [tokens[j].text for j in range(max(clause.start, first - 3), first)]
    if any(w in ("чуть", "едва", "хоть") for w in prefix):
        return True  # «чуть не умерла», «хоть убей»
    following = [tokens[j] for j in range(last + 1, min(clause.stop, last + 4))]
    if any(tokens[j].text == "смерть" and j + 1 < len(tokens) and tokens[j + 1].text == "как"
           for j in range(first, last + 1)):
        return True  # «смерть как хочется спать»
    if following and following[0].text in ("для", "можно"):
        return True  # «умереть для прошлого», «повеситься можно от …»
    for j, token in enumerate(following[:-1]):
        if token.text in ("от", "со", "с") and _JOKE_CAUSE(following[j + 1]):
            return True  # «умираю от смеха», «застрелилась со скуки»
    return any(tokens[j].lemmas & lx.OLD_SELF for j in range(max(clause.start, first - 3), min(clause.stop, last + 4)))


_PAST_MARK = L("раньше", "когда-то", "давно", "прежде")
_OVER_MARK = L("пройти", "позади", "порядок", "справиться", "пережить", "наладиться", "миновать", "выкарабкаться",
              "вылечиться")


def _resolved_in_past(tokens: list[Token], first: int, last: int) -> bool:
    """«раньше думала о самоубийстве, но это давно прошло»."""
    return any(_PAST_MARK(t) for t in tokens[max(0, first - 4):first]) and \
        any(_OVER_MARK(t) for t in tokens[last + 1:last + 12])


# --- the rules -------------------------------------------------------------------------------

SELF = S("себя", "собой", "себе")
# «себя / собой», also misspelt («сабой», «сибя»): the typo corrector lands on the lemma, never on «себе».
SELF_ACC = lambda t: t.text in ("себя", "собой") or (t.text != "себе" and "себя" in t.lemmas)  # noqa: E731
ME = S("меня", "мне", "мной", "я")
ALL = L("весь", "все", "всё")

RULES: tuple[Rule, ...] = (
    # explicit intent
    Rule("suicide-word", EXPLICIT, (L(lx.EXPLICIT_WORDS),), idioms=False, unless_clause=L(lx.MEDIA)),
    Rule("die-wish", EXPLICIT, (S("бы", "поскорее", "скорее", "смысле", "лишь", "лучше", "просто"),
                                INF(L(lx.DIE))), gap=1, unless_clause=L(lx.MEDIA)),
    Rule("await-death", EXPLICIT, (L("ждать", "дождаться", "дожидаться"), S("умру", "сдохну", "умрешь", "умереть")),
         ordered=False, window=5, negatable=False),
    # The dying verb as a wish is an infinitive or a «чтобы … умерла» past; «думала, умираю» (present) is a
    # belief during panic, «думала, что умру» (future) a fear.
    Rule("want-die", EXPLICIT, (L(lx.WANT), lambda t: (t.infinitive or t.past) and bool(t.lemmas & lx.DIE)), gap=3),
    Rule("dream-of-death", EXPLICIT, (L("мечтать", "желать", "хотеть", "хотеться"), S("о", "об"), L("смерть")), gap=1),
    Rule("live-in-vain", INDIRECT, (L("зря", "напрасно"), L(lx.LIVE, "родиться")), gap=2),
    Rule("want-open-veins", METHOD, (L(lx.WANT), L("вскрыться")), gap=1),
    Rule("want-not-live", EXPLICIT, (L(lx.WANT), NEG, INF(L(lx.LIVE, "быть"))), gap=1, end=True),
    Rule("to-the-other-world", EXPLICIT, (L(lx.WANT, "пора", "уйти", "отправиться", "уходить"), S("на"), S("тот"),
                                          L("свет")), gap=1),
    Rule("no-place-in-world", INDIRECT, (NEG, L("место"), L("свет", "мир", "земля")), ordered=False, window=8,
         negatable=False),
    Rule("kill-self", EXPLICIT, (L(lx.SELF_KILL_VERBS), SELF_ACC), gap=2),
    Rule("self-kill", EXPLICIT, (SELF_ACC, L(lx.SELF_KILL_VERBS)), gap=2),
    Rule("end-self", EXPLICIT, (L("покончить", "кончать", "кончить", "покончу"), SELF_ACC), gap=6),
    Rule("end-life", EXPLICIT, (L("покончить", "кончать", "заканчивать", "закончить"), L("жизнь")), gap=4),
    Rule("leave-life", EXPLICIT, (L("уйти", "уходить"), S("из"), L("жизнь")), gap=1),
    Rule("settle-scores", EXPLICIT, (L("свести", "сводить"), L("счет", "счеты", "счёты")), gap=2),
    Rule("lay-hands", EXPLICIT, (L("наложить", "накладывать"), S("на"), SELF, L("рука")), gap=1),
    Rule("better-dead", EXPLICIT, (L("лучше"), S("бы"), ME, L(lx.DIE)), gap=1),
    Rule("dead-better", EXPLICIT, (L("лучше"), S("бы"), ME, S("умерла", "умер", "сдохла", "сдох")), gap=1),
    # indirect intent
    Rule("not-want-live", INDIRECT, (NEG, L(lx.WANT), INF(L(lx.LIVE, "быть"))), gap=2, negatable=False, end=True,
         unless_next=S("так")),
    Rule("live-not-want", INDIRECT, (INF(L(lx.LIVE)), NEG, L(lx.WANT, "мочь")), gap=2, negatable=False,
         unless_next=S("без")),
    Rule("not-want-wake", INDIRECT, (NEG, L(lx.WANT), L(lx.WAKE)), gap=2, negatable=False),
    Rule("sleep-not-wake", INDIRECT, (NEG, INF(L(lx.WAKE))), gap=0, negatable=False, unless_next=_UNTIL),
    Rule("want-vanish", INDIRECT, (L(lx.WANT, "лучше", "просто"), L(lx.VANISH)), gap=2,
         unless_next=S("из", "на", "с", "со", "от", "ото"), unless_clause=L(lx.FOR_A_WHILE)),
    Rule("better-without-me", INDIRECT, (L(lx.BETTER), S("без"), S("меня")), ordered=False, window=7),
    Rule("me-not-be", INDIRECT, (S("меня"), NEG, L("стать", "быть", "должный", "должно")), gap=1,
         negatable=False, unless_next=S("дома", "на", "в", "рядом", "с")),
    Rule("live-no-reason", INDIRECT, (INF(L(lx.LIVE)), L("незачем", "нечего", "смысл")), gap=4),
    # A death word and a wish or plan anywhere in one clause, in any order («смерть — единственное, чего я
    # хочу», «план простой: … умереть»): the dying verb as infinitive or past, or the noun.
    Rule("wish-and-death", EXPLICIT, (L(lx.WANT - lx.THINK, "план", "единственный", "мечта", "цель", "желание"),
                                      lambda t: ((t.infinitive or t.past) and bool(t.lemmas & lx.DIE)) or
                                      "смерть" in t.lemmas), ordered=False, window=10),
    Rule("regret-waking", INDIRECT, (L("жалеть", "пожалеть", "зря"), L("проснуться", "родиться", "выжить",
                                                                       "откачать", "спасти")), gap=1),
    Rule("superfluous", INDIRECT, (L("лишний"), L("свет", "мир", "жизнь")), ordered=False, window=4),
    Rule("cannot-live", INDIRECT, (NEG, L("мочь", "получаться"), INF(L(lx.LIVE))), gap=2, negatable=False,
         end=True, unless_next=S("без")),
    Rule("no-strength-live", INDIRECT, (L("нет", "нету"), L("сила"), INF(L(lx.LIVE))), gap=1, negatable=False,
         end=True),
    Rule("burden", INDIRECT, (L("обуза"),), idioms=False),  # «обуза для мамы»: «для» is not «умереть для прошлого»
    Rule("why-live", INDIRECT, (L("зачем", "незачем", "смысл"), INF(L(lx.LIVE, lx.WAKE, "оставаться"))), gap=3),
    Rule("why-i-live", INDIRECT, (L("зачем"), S("я"), L(lx.LIVE)), gap=1, end=True),
    Rule("no-sense-live", INDIRECT, (L("смысл"), NEG, L(lx.LIVE)), ordered=False, window=9, negatable=False),
    Rule("life-not-dear", INDIRECT, (L("жизнь", "свет"), NEG, L("милый", "мил")), ordered=False, window=4,
         negatable=False),
    Rule("not-be-alive", INDIRECT, (NEG, L(lx.WANT), INF(L("быть")), L("живой")), gap=1, negatable=False),
    Rule("tired-live", INDIRECT, (L(lx.TIRED), INF(L(lx.LIVE, lx.WAKE))), gap=1, end=True),
    Rule("live-tired", INDIRECT, (INF(L(lx.LIVE)), L(lx.TIRED)), gap=0, end=True),
    Rule("death-only-way", INDIRECT, (L("выход", "выхода", "путь"),
                                      L("смерть", "умереть", "суицид", "покончить", "самоубийство")),
         ordered=False, window=5, negatable=False),
    Rule("sleep-forever", INDIRECT, (L("уснуть", "заснуть", "засыпать"), L("навсегда", "вечный")), ordered=False,
         window=3),
    Rule("indifferent-to-death", INDIRECT, (S("равно", "плевать", "пофиг", "фиолетово"), L(lx.DIE)), ordered=False,
         window=5),
    Rule("kill-me", EXPLICIT, (S("убейте", "убей", "пристрелите", "пристрели", "добейте"), S("меня")), ordered=False,
         window=3, unless_clause=L(lx.IDIOM_CAUSE)),  # «убейте меня, сессия»: a stressor named, a hyperbole
    # Generalising frames (care2): a wish + "everything ends" + finality; never waking; not being here in
    # any word order; regretting being born; nobody would notice; "no strength to live" in any order.
    Rule("end-everything", EXPLICIT, (L("покончить", "кончать"), S("со", "с"), S("всем")), gap=1),
    Rule("leave-for-good", INDIRECT, (L("уйти", "уходить"), L("насовсем", "навсегда")), gap=2,
         unless_clause=L(lx.OLD_SELF, lx.LEAVE_PLACE)),
    Rule("not-afraid-die", EXPLICIT, (NEG, L("страшно", "бояться"), INF(L(lx.DIE)), L(lx.WANT, "готовый")),
         ordered=False, window=9, negatable=False),
    Rule("want-all-end", INDIRECT, (L(lx.WANT, "скорее", "поскорее", "лишь"), ALL,
                                    L("закончиться", "кончиться", "прекратиться", "оборваться"),
                                    L("навсегда", "насовсем", "совсем", "жизнь", "раз", "я")),
         ordered=False, window=11),
    Rule("never-wake", INDIRECT, (L("больше", "никогда"), NEG, L(lx.WAKE)), gap=1, negatable=False,
         unless_next=_UNTIL),
    Rule("no-longer-exist", INDIRECT, (L("больше", "никогда"), NEG, INF(L(lx.LIVE, "быть"))), gap=1,
         negatable=False, end=True),
    Rule("not-waking-good", INDIRECT, (NEG, L(lx.WAKE), L(lx.BETTER, "отлично", "здорово", "прекрасно", "радость")),
         ordered=False, window=8, negatable=False),
    Rule("nobody-needs-better", INDIRECT, (S("всем", "всех"), L(lx.BETTER), L("нужный", "без", "исчезнуть", "уйти")),
         ordered=False, window=8, negatable=False),
    Rule("await-the-end", INDIRECT, (L("ждать"), S("конца", "смерти")), gap=1, unless_next=lambda t: not t.is_break),
    Rule("never-open-eyes", INDIRECT, (L("больше", "никогда"), NEG, L("открыть", "открывать"), L("глаз")), gap=1,
         negatable=False),
    Rule("not-be-here", INDIRECT, (NEG, L(lx.WANT), INF(L("быть")), L("здесь", "тут")), ordered=False, window=6,
         negatable=False),
    Rule("regret-born", INDIRECT, (L("зачем", "зря", lx.BETTER), ME, L("родиться", "рождаться")), ordered=False,
         window=6, negatable=False, unless_clause=L("страна", "город", "век", "время", "мальчик", "девочка")),
    Rule("tired-be", INDIRECT, (L(lx.TIRED), INF(L("быть"))), gap=1, end=True),
    Rule("nobody-notice", INDIRECT, (L("никто"), L("заметить", "вспомнить", "заплакать", "скучать", "хватиться",
                                                   "искать", "расстроиться"),
                                     L(lx.VANISH, lx.DIE, "стать")), ordered=False, window=9, negatable=False),
    Rule("no-strength-any-order", INDIRECT, (L("нет", "нету", "ноль", "кончиться", "закончиться"), L("сила"),
                                             INF(L(lx.LIVE))), ordered=False, window=4, negatable=False, end=True),
    Rule("not-want-to-reach", INDIRECT, (NEG, L(lx.WANT), INF(L("дожить", "доживать"))), gap=2, negatable=False),
    Rule("close-eyes-forever", INDIRECT, (L("закрыть", "закрывать"), L("глаз"), L("больше", "никогда"), NEG,
                                          L("открыть", "открывать")), ordered=False, window=9, negatable=False),
    Rule("life-not-for-me", INDIRECT, (L("жизнь"), NEG, S("для"), S("меня")), ordered=False, window=5,
         negatable=False),
    Rule("no-wish-to-live", INDIRECT, (L("нет", "нету", "ноль", "пропасть"), L("желание", "охота", "смысл"),
                                       INF(L(lx.LIVE))), ordered=False, window=4, negatable=False, end=True),
    Rule("no-sense-going-on", INDIRECT, (L("смысл"), INF(L("продолжать", "бороться"))), gap=1, negatable=False,
         end=True),
    Rule("no-sense-go-on", INDIRECT, (L("смысл"), L("продолжать", "бороться", "просыпаться", "стараться"), ALL),
         gap=2, negatable=False),
    Rule("tired-life", INDIRECT, (L(lx.TIRED), S("от"), L("жизнь")), gap=1),
    Rule("stop-being", INDIRECT, (L("перестать", "прекратить"), INF(L("быть", "жить", "существовать", "дышать"))),
         gap=1, end=True),
    Rule("not-here", INDIRECT, (NEG, L(lx.WANT), L("здесь", "тут", "свет"), L("быть")), gap=2, negatable=False),
    # method or means with intent
    Rule("overdose", METHOD, (L(lx.OVERDOSE),)),
    Rule("lethal-dose", METHOD, (L("смертельный", "летальный"), L("доза")), ordered=False, window=4),
    Rule("lethal-means", METHOD, (L(lx.LETHAL), L(lx.HIGH_PLACE, lx.PILLS, lx.VEIN, lx.ROPE, "машина", "этаж")),
         ordered=False, window=6, unless_clause=L(lx.MEDIA)),
    Rule("out-the-window", METHOD, (L("выйти", "выходить", "шагнуть", "уйти", "прыгнуть"), S("в"), L("окно")), gap=1),
    Rule("to-the-railway", METHOD, (L(lx.WANT), S("на"), L("железный"), L("дорога")), gap=2, end=True),
    Rule("on-the-rails", METHOD, (L("лечь", "лежать", "броситься", "кинуться", "встать", "стоять", "сидеть"),
                                  S("на", "под"), L("рельсы", "рельс", "поезд", "электричка")), gap=1),
    # A wish or a thought and a means in one clause: «хочу выпить яд», «думаю взять у папы пистолет».
    Rule("wish-and-means", METHOD, (L(lx.WANT), L(lx.LETHAL_MEANS)), ordered=False, window=6,
         unless_clause=L(lx.PRESCRIBED, lx.LEISURE, "белье", "сушка", "качели", "крыса", "мышь", "таракан", "сад",
                         "вязание", "тир", "охота", "игрушечный")),
    Rule("wish-to-swallow", METHOD, (L(lx.WANT), INF(L(lx.INGEST)), lambda t: bool(t.lemmas & lx.PILLS) and
                                     t.text not in lx.ONE_PILL), ordered=False, window=6,
         unless_clause=L(lx.PRESCRIBED)),
    Rule("means-choice", METHOD, (L(lx.MEANS), S("или"), L(lx.MEANS)), gap=2,
         unless_clause=L(lx.PRESCRIBED, lx.LEISURE)),
    Rule("rope", METHOD, (L("купить", "найти", "взять", "приготовить", "достать", "завязать", "затянуть", "связать"),
                          L(lx.ROPE)), gap=2,
         unless_clause=L("белье", "для", "сушка", "палатка", "лодка", "поход", "собака", "качели")),
    Rule("gas", METHOD, (L("надышаться", "отравиться"), L("газ", "угарный")), ordered=False, window=4),
    Rule("gulp-pills", METHOD, (L("наглотаться", "нажраться", "обожраться", "наесться", "наесть", "закинуться"),
                                  L(lx.PILLS)),
         ordered=False, window=5),
    Rule("want-gulp", METHOD, (L(lx.WANT), L("наглотаться", "отравиться", "травиться")), gap=2),
    Rule("pills-all", METHOD, (L(lx.PILLS), L(lx.INGEST), L(lx.QUANTITY)), ordered=False, window=8,
         unless_clause=L(lx.PRESCRIBED)),
    Rule("bought-lots", METHOD, (L("купить", "накупить", "запастись", "набрать"), L(lx.QUANTITY, "хватить"),
                                 L(lx.PILLS)), ordered=False, window=6,
         unless_clause=L(lx.PRESCRIBED, "мама", "бабушка", "ребенок", "дорога", "отпуск", "поездка", "аптечка")),
    Rule("hoard-pills", METHOD, (L(lx.HOARD), L(lx.PILLS)), ordered=False, window=4,
         unless_clause=L(lx.PRESCRIBED, "таблетница", "мама", "ребенок", "бабушка", "дорога", "отпуск", "поездка")),
    Rule("jump-from", METHOD, (L(lx.JUMP), L("с", "из", "со"), L(lx.HIGH_PLACE)), gap=2,
         unless_clause=L(lx.MEDIA, lx.LEISURE)),
    Rule("jump-under", METHOD, (L(lx.JUMP), S("под"), L(lx.UNDER)), gap=1),
    Rule("cut-veins", METHOD, (L(lx.CUT), L(lx.VEIN)), ordered=False, window=4),
    Rule("hang", METHOD, (L(lx.HANG),), unless_next=S("как", "можно", "от")),
    Rule("want-fall", METHOD, (L(lx.WANT), L("упасть", "свалиться", "сорваться"), S("с", "из", "со"),
                               L(lx.HIGH_PLACE)), gap=2),
    Rule("means-today", METHOD, (L(lx.BLADE, lx.PILLS, lx.ROPE, lx.LETHAL_MEANS), L("думать", "решиться", "собираться"),
                                 L("сегодня", "завтра", "ночью", "вечером", "скоро")), ordered=False, window=8,
         unless_clause=L(lx.KITCHEN, lx.LEISURE, lx.PRESCRIBED)),
    Rule("want-jump", METHOD, (L(lx.WANT), L("спрыгнуть", "сброситься", "выброситься", "выпрыгнуть")), gap=1,
         end=True),
    # «застрелите меня, ещё одно совещание»: asking others to do it is the hyperbole; «пристрелите/убейте
    # меня» without a joke context stays with kill-me.
    Rule("shoot-self", METHOD, (L(lx.SHOOT),),
         unless_next=S("его", "ее", "их", "тебя", "как", "можно", "от", "меня")),
    Rule("not-wake-pills", METHOD, (L(lx.PILLS), S("чтобы"), NEG, L(lx.WAKE)), ordered=False, window=8,
         negatable=False),
    Rule("height-enough", METHOD, (L("этаж", "высота", "мост", "крыша"), L("достаточно", "хватить", "наверняка")),
         ordered=False, window=4),
    Rule("means-and-thought", METHOD, (L(lx.BLADE, lx.PILLS, lx.ROPE, "ружье"),
                                       L("думать", "решиться", "решаться", "знать"),
                                       S("об", "это", "этом", "сделать", "сделаю", "нем", "ней", "них")),
         ordered=False, window=9),
    Rule("means-waiting", METHOD, (L(lx.BLADE, lx.PILLS, lx.ROPE, "ружье"), L("ждать"),
                                   L("уснуть", "уйти", "лечь", "заснуть", "уехать")), ordered=False, window=9),
    Rule("under-wheels", METHOD, (L(lx.JUMP, "лечь"), S("под"), L(lx.UNDER)), ordered=False, window=4),
    # preparation and farewell: scored separately (see _farewell)
    # self-harm
    Rule("self-harm-word", SELF_HARM, (L(lx.SELF_HARM_WORDS),), idioms=False),
    Rule("cut-self", SELF_HARM, (L(lx.SELF_CUT), SELF_ACC), gap=1),
    Rule("cigarette-on-self", SELF_HARM, (L("тушить", "затушить", "прижигать"), S("об", "о"),
                                          L(lx.ARMS, "себя", "сам")), gap=2),
    Rule("cut-arms", SELF_HARM, (L("резать", "порезать", "резаться", "изрезать", "жечь", "прижигать", "прижечь",
                                   "полосовать", "исполосовать"),
                                 L(lx.ARMS)), gap=2, unless_clause=L(lx.KITCHEN, lx.ACCIDENT)),
    Rule("blade-again", SELF_HARM, (L("лезвие", "бритва"), L("взяться", "снова", "опять", "резать", "рука")),
         ordered=False, window=4),
    Rule("cuts-on-body", SELF_HARM, (L("порез", "шрам", "ожог"), L(lx.ARMS)), ordered=False, window=4,
         unless_clause=L("операция", "кошка", "кот", "собака", "авария", "детство", "упасть", "ремонт", "роды",
                         "прививка", "готовить", "кухня", "ожог")),
    Rule("cut-deep", ACUTE, (PAST(L("порезаться", "порезать", "вскрыть")), L("сильно", "глубоко", "вена")),
         ordered=False, window=4, acute=True),
    Rule("self-cut", SELF_HARM, (SELF_ACC, L(lx.SELF_CUT, "изуродовать")), gap=1),
    Rule("blade-on-self", SELF_HARM, (L(lx.BLADE), SELF_ACC, L("ударить", "ткнуть", "резать", "колоть", "полоснуть")),
         ordered=False, window=6),
    Rule("to-blood", SELF_HARM, (S("до"), L("кровь"), L("себя", lx.ARMS, "волос", "волосы")), ordered=False,
         window=6, unless_clause=L("кот", "кошка", "собака", "ребенок", "комар", "укус", "нос")),
    Rule("on-purpose", SELF_HARM, (L(lx.CUT, lx.SELF_CUT, "порезаться", "пораниться"), L("специально", "нарочно")),
         ordered=False, window=5),
    Rule("not-allowed-live", INDIRECT, (NEG, L("должный", "заслуживать", "достойный", "заслужить"),
                                        INF(L(lx.LIVE))), gap=1, negatable=False, end=True),
    Rule("better-not-lived", INDIRECT, (L("лучше"), S("бы"), NEG, L(lx.LIVE, "родиться", "рождаться")),
         ordered=False, window=6, negatable=False),
    Rule("cut-again", SELF_HARM, (L("порезаться", "резаться", "порезать", "изрезать"),
                                  L("снова", "опять", "тянуть", "сорваться", "сорвалась")), ordered=False, window=4,
         unless_clause=L(lx.KITCHEN)),
    Rule("cutting", SELF_HARM, (L("резаться"),), unless_next=S("в")),
    Rule("hurt-self", SELF_HARM, (L(lx.DO_TO), S("себе"), L(lx.HURT)), ordered=False, window=5),
    Rule("scratch-blood", SELF_HARM, (L("расцарапать", "царапать", "раздирать", "расчесать", "расчесывать"),
                                      L("кровь")),
         ordered=False, window=6),
    Rule("head-wall", SELF_HARM, (L("биться"), L("голова", "стена")), ordered=False, window=4),
    Rule("cuts-on-self", SELF_HARM, (L(lx.DO_TO), L("порез", "ожог", "шрам")), ordered=False, window=4),
    Rule("starve-self", SELF_HARM, (L("морить"), SELF_ACC, L("голод")), ordered=False, window=5),
    # acute danger now
    Rule("took-all-pills", ACUTE, (PAST(L(lx.INGEST)), L("все", "весь", "пачка", "упаковка", "горсть", "блистер",
                                                          "целый"), L(lx.PILLS)), ordered=False, window=6,
         acute=True, unless_clause=L("курс", "врач", "назначить", "прописать", "схема", "рецепт")),
    Rule("took-pills", ACUTE, (PAST(L(lx.INGEST)), lambda t: bool(t.lemmas & lx.PILLS) and
                               t.text not in lx.ONE_PILL), ordered=False, window=7,
         acute=True, unless_clause=L(lx.PRESCRIBED)),
    Rule("took-everything", ACUTE, (PAST(L(lx.INGEST)), L(lx.QUANTITY)), ordered=False, window=7, acute=True,
         unless_clause=L(lx.PRESCRIBED, lx.BEVERAGE)),  # «выпила всё, что было», not «всю бутылку воды»
    Rule("gulped", ACUTE, (PAST(L("наглотаться", "отравиться", "передознуться")),), acute=True),
    Rule("took-lethal", ACUTE, (PAST(L(lx.INGEST)), L("смертельный", "летальный")), ordered=False, window=5,
         acute=True),
    Rule("cut-already", ACUTE, (PAST(L(lx.CUT)), L(lx.VEIN)), gap=2, acute=True),
    Rule("blood-wont-stop", ACUTE, (L("кровь"), NEG, L("остановиться", "останавливаться", "прекращаться")), gap=1,
         acute=True, negatable=False, unless_clause=L("нос", "палец", "десна")),
    Rule("blood-flows", ACUTE, (L("кровь"), L("идти", "течь", "хлестать", "остановиться", "останавливаться")),
         gap=1, acute=True,
         unless_clause=L("нос", "палец", "десна")),
    Rule("blade-wrist", ACUTE, (L(lx.BLADE), L(lx.VEIN)), ordered=False, window=5, acute=True),
    Rule("at-edge", ACUTE, (S("на"), L(lx.EDGE)), gap=1, acute=True,
         unless_clause=L(lx.LEISURE, "нервы", "срыв", "грань", "земля", "света", "деревня", "город", "новый",
                         "начало", "открытие", "успех", "мечта", "решение", "перемена")),
    Rule("blood-from-wrist", ACUTE, (L("кровь"), L(lx.VEIN)), ordered=False, window=4, acute=True,
         unless_clause=L("анализ", "сдать", "сдавать", "донор", "врач", "медсестра", "укол", "капельница")),
    Rule("jump-now", ACUTE, (S("сейчас", "щас", "прямо"), L("прыгнуть", "спрыгнуть", "шагнуть", "сброситься")), gap=1,
         acute=True, unless_next=lambda t: not t.is_break),
    Rule("on-rails", ACUTE, (S("на"), L("рельсы", "рельс")), gap=0, acute=True, unless_clause=L(lx.LEISURE)),
    Rule("edge-of-drop", ACUTE, (L("край"), L("платформа", "крыша", "мост", "обрыв", "пропасть", "балкон")),
         ordered=False, window=3, acute=True, unless_clause=L(lx.LEISURE)),
    Rule("rope-ready", ACUTE, (L(lx.ROPE), L(lx.ROPE_READY)), ordered=False, window=5, acute=True),
    # violence and threats from another person
    Rule("beats-me", VIOLENCE, (L(lx.BEAT), S("меня", "мне", "нас", "нам")), ordered=False, window=4, idioms=False),
    Rule("beats-again", VIOLENCE, (L(lx.PERSON), L(lx.BEAT), L("опять", "снова", "постоянно", "каждый", "часто",
                                                               "будет", "бояться", "страшно")),
         ordered=False, window=6, idioms=False, unless_clause=L("рекорд", "мяч", "тревога", "ключ", "баклуши")),
    Rule("threatens", VIOLENCE, (L(lx.THREAT), L(lx.THREAT_OBJECT)), gap=3, idioms=False),
    Rule("will-kill-me", VIOLENCE, (L("сказать", "обещать", "пообещать", "грозиться", "угрожать"), S("что"),
                                    L("убить", "зарезать", "прибить")), gap=6, idioms=False),
    Rule("raped", VIOLENCE, (L("изнасиловать", "насиловать", "домогаться"),), idioms=False),
    Rule("armed-person", VIOLENCE, (L(lx.BLADE, "топор"), L("ломиться", "бросаться", "кидаться", "гоняться",
                                                             "угрожать", "замахиваться", "замахнуться", "приставить",
                                                             "махать", "держать")),
         ordered=False, window=6, idioms=False, acute=True, unless_clause=L(lx.KITCHEN)),
    Rule("swings-at-me", VIOLENCE, (L("замахнуться", "замахиваться", "кинуться", "броситься", "наброситься"),
                                    S("на"), S("меня")), gap=1, idioms=False),
    Rule("not-let-out", VIOLENCE, (S("меня"), NEG, L("выпускать", "выпустить")), ordered=False, window=7,
         idioms=False, negatable=False),
    Rule("stalks", VIOLENCE, (L(lx.PERSON), L("караулить", "преследовать", "следить", "поджидать", "выслеживать",
                                              "угрожать")), ordered=False, window=5, idioms=False,
         unless_clause=L("увольнение", "штраф", "суд", "выговор", "двойка", "отчисление", "сериал", "новость")),
    Rule("raises-hand", VIOLENCE, (L("поднимать", "поднять"), S("меня"), L("рука")), ordered=False, window=5,
         idioms=False),
    Rule("touches-me", VIOLENCE, (L(lx.PERSON), L("трогать", "лапать", "приставать", "раздевать"), S("меня", "мне")),
         ordered=False, window=5, idioms=False),
    Rule("locked-up", VIOLENCE, (L("взаперти", "запереть", "запирать"), S("меня")), ordered=False, window=4,
         idioms=False),
    Rule("afraid-he-kills", VIOLENCE, (L("бояться", "страшно"), S("меня"), L(lx.BEAT, "убить", "прибить")),
         ordered=False, window=6, idioms=False),
    Rule("threatens-me", VIOLENCE, (L("угрожать", "грозить", "шантажировать", "преследовать"), S("мне", "меня")),
         ordered=False, window=4, idioms=False,
         unless_clause=L("увольнение", "штраф", "суд", "выговор", "двойка", "отчисление")),
)


def _heights(tokens: list[Token]) -> list[int] | None:
    """On a roof or bridge now, with a cue of danger (and no sign of a pleasant outing)."""
    words = set().union(*(t.lemmas for t in tokens)) if tokens else set()
    if words & lx.LEISURE or words & lx.PHOBIA or ("высота" in words and words & {"страшно", "боюсь"}):
        return None
    if any(t.text in ("страшно", "боюсь", "боится") for t in tokens[:6]):  # «страшно подниматься на крышу»
        return None
    for i, token in enumerate(tokens[:-1]):
        if token.text == "на" and tokens[i + 1].lemmas & lx.HIGH_PLACE - {"окно", "этаж", "высота"}:
            stands = any(t.lemmas & lx.STAND for t in tokens[max(0, i - 3):i])
            cue = words & lx.DANGER_CUE or any(_NOW(t) for t in tokens[max(0, i - 3):i])
            short = len([t for t in tokens if not t.is_break]) <= 6
            # A short «я на крыше» is enough; a balcony needs a cue or a few words more of standing there.
            bare = short and tokens[i + 1].lemmas & lx.OPEN_DROP
            if cue or bare or (stands and len(tokens) <= 10):
                return [i, i + 1]
    return None


_STRONG_FAREWELL = (
    Rule("last-message", FAREWELL, (L("последний", "прощальный", "предсмертный"),
                                    L("сообщение", "письмо", "записка", "слово")), gap=1,
         unless_next=S("от", "из", "с")),  # «последнее письмо от банка»: not mine
    Rule("give-my-things", FAREWELL, (S("отдайте", "раздайте", "отдай", "раздай"), L("вещь", "все", "кот", "кошка"),
                                      L(lx.PERSON, "сестра", "подруга", "дочь", "сын", "друг", "бабушка")),
         ordered=False, window=6, negatable=False),
    Rule("farewell-letter", FAREWELL, (L(lx.FAREWELL_STRONG_WORDS),),
         unless_clause=L("нотариус", "читать", "оспорить", "наследство", "родственник", "отец", "дед", "бабушка")),
    Rule("writing-last-time", FAREWELL, (L("писать", "написать"), S("последний"), S("раз")), gap=2,
         unless_clause=L(lx.LEAVE_PLACE, "переезжать", "переехать", "другой")),
    Rule("me-gone", FAREWELL, (S("меня"), NEG, L("стать")), gap=1, negatable=False),
    Rule("me-no-more", FAREWELL, (S("меня"), S("уже", "больше"), NEG, S("будет")), gap=0, negatable=False,
         unless_next=S("на", "в", "дома", "рядом", "с")),
    Rule("me-no-more-end", FAREWELL, (S("меня"), NEG, S("будет")), gap=1, negatable=False, end=True),
    Rule("not-alive", FAREWELL, (S("в"), S("живых")), gap=0, negatable=False),
    Rule("tell-them-i-love", FAREWELL, (S("скажите", "передайте", "передай", "скажи"), L("любить", "жаль", "простить")),
         ordered=False, window=7, negatable=False,
         unless_clause=L("ждать", "приехать", "ужин", "позвонить", "привет", "скоро", "завтра", "вечером", "купить",
                         "зайти", "когда", "гость", "прийти", "опоздать")),
    Rule("said-goodbye-all", FAREWELL, (PAST(L("попрощаться", "прощаться")), S("со", "с"), ALL), gap=1,
         negatable=False, unless_clause=L(lx.LEISURE, "дом", "домой", "работа", "коллега", "гость", "уехать")),
    Rule("never-see-again", FAREWELL, (L("больше", "никогда"), L("я", "мы"), NEG,
                                       L("увидеться", "встретиться", "увидеть")), ordered=False, window=6,
         negatable=False, unless_clause=L(lx.LEAVE_PLACE, "уехать", "переезд", "расстаться", "бывший", "переехать")),
    Rule("my-last-day", FAREWELL, (S("мой"), L("последний"), L("день", "вечер", "ночь", "утро")), gap=0,
         negatable=False, unless_clause=L(lx.LEAVE_PLACE, "каникулы", "практика", "стажировка", "смена", "курс")),
    Rule("care-for-pet", FAREWELL, (L("позаботиться", "заботиться", "беречь"),
                                    L("кот", "кошка", "собака", "пес", "питомец", "попугай", "хомяк", "рыбка", "мама",
                                      "папа", "ребенок", "дети", "сестра", "брат", "семья")),
         ordered=False, window=4, negatable=False,
         unless_clause=L("отпуск", "уехать", "пока", "неделя", "командировка", "выходные", "больница")),
    Rule("goodbye-world", FAREWELL, (S("прощай", "прощайте"), L("мир", "свет", "жизнь", "все", "всех", "наташа")),
         gap=1,
         negatable=False),
    Rule("my-farewell", FAREWELL, (L("прощание"),), negatable=False, unless_next=S("с", "со"),
         unless_clause=L(lx.OLD_SELF, lx.FOR_A_WHILE, "лето", "зима", "весна", "осень")),
    Rule("dont-grieve", FAREWELL, (NEG, L("грустить", "плакать", "скучать", "переживать", "горевать"),
                                   S("обо", "о", "по", "из-за"), S("мне")), gap=1, negatable=False,
         unless_clause=L(lx.FOR_A_WHILE, lx.LEAVE_PLACE, "уехать", "скоро", "вернуться", "приехать")),
    Rule("said-goodbye-done", FAREWELL, (PAST(L("попрощаться")),), negatable=False, end=True),
    Rule("someone-take-my-pet", FAREWELL, (S("пусть"), L("забрать", "взять", "приютить"),
                                           L("кот", "кошка", "собака", "пес", "питомец")), ordered=False, window=6,
         negatable=False, unless_clause=L(lx.FOR_A_WHILE, "передержка", "отпуск", "уехать", "командировка")),
    Rule("wont-hear", FAREWELL, (S("обо", "про"), S("мне", "меня"), NEG, L("услышать")), gap=1, negatable=False),
)
_WEAK_FAREWELL = (
    Rule("goodbye", FAREWELL, (S("прощай", "прощайте", "простите", "прости"),), negatable=False),
    Rule("this-is-the-end", FAREWELL, (S("это"), S("конец")), gap=1, negatable=False),
    Rule("left-a-note", FAREWELL, (L("оставить", "написать", "оставлять"), L("записка", "письмо")), gap=3,
         negatable=False),
    Rule("deleted-accounts", FAREWELL, (PAST(L("удалить")), L("соцсеть", "аккаунт", "страница", "профиль")), gap=2,
         negatable=False),
    Rule("was-nice-knowing", FAREWELL, (L("приятно", "рада", "рад", "счастье"), L("знать", "знакомый")), gap=2,
         negatable=False),
    Rule("goodbye-all", FAREWELL, (S("прощайте", "простите", "прощай"), L("все", "всех", "весь", "меня")),
         ordered=False, window=4, negatable=False),
    Rule("forever", FAREWELL, (L("навсегда"),), negatable=False),
    Rule("rest-from-me", FAREWELL, (L("отдохнуть", "отдыхать"), S("от"), S("меня")), ordered=False, window=5,
         negatable=False),
    Rule("wont-write", FAREWELL, (S("больше"), NEG, L("написать", "писать")), gap=1, negatable=False),
    Rule("last-time", FAREWELL, (L("последний"), S("раз")), gap=0, negatable=False),
    Rule("decided", FAREWELL, (L("все", "всё", "весь", "так"), PAST(L("решить"))), gap=1, negatable=False),
    Rule("tell-loved", FAREWELL, (L("передать", "скажите", "скажи"), L("любить", "люблю")), ordered=False,
         window=6, negatable=False),
    # Giving things away, in the past or now («раздала», «раздаю всё»): one cue however it is said.
    Rule("gave-away", FAREWELL, (lambda t: (t.past and bool(t.lemmas & {"раздать", "раздавать", "отдать"})) or
                                 t.text == "раздаю",), negatable=False),
    Rule("wont-need", FAREWELL, (NEG, L("понадобиться", "пригодиться", "нужный")), gap=1, negatable=False),
    Rule("im-leaving", FAREWELL, (S("ухожу", "ухожу."),), negatable=False,
         unless_next=S("с", "на", "в", "из", "от", "к", "по", "домой", "спать", "гулять", "работать", "пораньше")),
    Rule("wont-come-again", FAREWELL, (L("больше"), NEG, L("прийти", "приходить", "появиться", "появляться")), gap=1,
         negatable=False),
    Rule("thanks-for-all", FAREWELL, (L("спасибо"), L("все", "всё", "весь", "рядом")), gap=3, negatable=False),
    Rule("letters-to-all", FAREWELL, (L("письмо", "записка"), L("близкий", "родной", "все", "весь")), ordered=False,
         window=4, negatable=False),
    Rule("all-ready", FAREWELL, (ALL, L("готовый", "решенный", "решено")), gap=1, negatable=False),
    Rule("if-anything-happens", FAREWELL, (S("если"), S("со"), S("мной"), L("случиться")), gap=2, negatable=False),
    Rule("sorry-that", FAREWELL, (S("простите", "прости"), S("что", "за")), gap=0, negatable=False),
    Rule("love-you-all", FAREWELL, (L("любить"), S("всех", "вас", "всем")), ordered=False, window=3,
         negatable=False),
    Rule("dont-blame", FAREWELL, (S("не"), S("вините", "вини", "виню", "винить")), gap=0, negatable=False),
    Rule("dont-stop-me", FAREWELL, (NEG, L("пытаться", "надо", "нужно", "смочь", "пробовать"),
                                    L("остановить", "отговаривать", "отговорить", "спасать", "спасти")), gap=2,
         negatable=False),
    Rule("affairs", FAREWELL, (L("пароль", "сбережение", "наследство"),), negatable=False),
    Rule("affairs-done", FAREWELL, (L("дело"), PAST(L("закончить", "завершить", "доделать"))), ordered=False, window=3,
         negatable=False),
    Rule("decided-to-go", FAREWELL, (PAST(L("решить")), L("уйти", "уходить")), gap=1, negatable=False,
         unless_next=lambda t: not t.is_break),
    Rule("time-to-go", FAREWELL, (L("можно", "пора"), L("уходить", "уйти")), gap=1, negatable=False, end=True),
    Rule("did-not-cope", FAREWELL, (NEG, PAST(L("справиться", "выдержать", "смочь"))), gap=0, negatable=False,
         unless_next=S("с", "со")),
    Rule("i-must-go", FAREWELL, (S("мне"), S("пора")), gap=0, negatable=False, end=True),
    Rule("dont-look-for-me", FAREWELL, (NEG, S("ищите", "ищи")), gap=0, negatable=False),
    Rule("you-were-good", FAREWELL, (S("вы", "ты"), S("был", "была", "были"),
                                     L("хороший", "лучший", "друг", "подруга")), gap=1, negatable=False),
    Rule("my-dear-ones", FAREWELL, (S("мои", "мой", "моя"), L("хороший", "родной", "любимый", "дорогой")), gap=0,
         negatable=False),
    Rule("dont-remember-ill", FAREWELL, (L("поминать"), S("лихом")), gap=1, negatable=False),
    Rule("leave-you-all", FAREWELL, (L("оставлять", "оставить"), S("вам", "тебе"), ALL), ordered=False, window=4,
         negatable=False),
    Rule("wont-bother", FAREWELL, (L("больше"), NEG, L("помешать", "мешать", "беспокоить", "надоедать")), gap=2,
         negatable=False),
    Rule("this-is-last", FAREWELL, (S("это"), S("последнее", "последний", "последняя")), gap=1, negatable=False,
         end=True),
    Rule("want-goodbye", FAREWELL, (L(lx.WANT, "пора"), L("попрощаться", "проститься")), gap=1, negatable=False),
    Rule("said-goodbye", FAREWELL, (PAST(L("попрощаться")),), negatable=False),
    Rule("all-will-end", FAREWELL, (L("скоро", "завтра"), L("все", "всё", "весь"), L("закончиться", "кончиться")),
         gap=1, negatable=False),
)


FAREWELL_SPAN = 40  # tokens


def _close_together(hits: list[tuple[Rule, list[int]]]) -> bool:
    starts = sorted(found[0] for _, found in hits)
    return any(b - a <= FAREWELL_SPAN for a, b in itertools.pairwise(starts))


def _farewell(tokens: list[Token], lemmas: frozenset[str]) -> Verdict | None:
    for rule in _STRONG_FAREWELL:
        found = rule.find(tokens, lemmas)
        if found:
            return _verdict(rule, tokens, found)
    hits = [(rule, found) for rule in _WEAK_FAREWELL if (found := rule.find(tokens, lemmas))]
    # Two cues together, not two cues anywhere in a long message: within a few sentences of each other.
    if len(hits) >= 2 and not _close_together(hits):
        return None
    if len(hits) >= 2:  # one «прощай, лето!» is not a farewell; two cues together are
        evidence = tuple(" ".join(tokens[j].text for j in found) for _, found in hits[:3])
        return Verdict(True, FAREWELL, "+".join(rule.name for rule, _ in hits[:3]), evidence)
    return None


_NOW = S("сейчас", "уже", "прямо")


def _verdict(rule: Rule, tokens: list[Token], found: list[int]) -> Verdict:
    span = tokens[found[0]:found[-1] + 1]
    # A method said with «сейчас / уже / прямо» is happening: acute.
    acute = rule.acute or (rule.category == METHOD and any(_NOW(tokens[j]) for j in _clause(tokens, found[0])))
    return Verdict(True, rule.category, rule.name, (" ".join(t.text for t in span)[:80],), acute=acute)


@functools.cache
def _vocabulary() -> frozenset[str]:
    return lx.vocabulary()


def detect(text: str) -> Verdict:
    """The offline verdict for one message. Acute and violence rules win over the rest."""
    tokens = tokenize(text, vocabulary=_vocabulary())
    if not tokens:
        return NO_RISK
    lemmas = frozenset().union(*(token.lemmas for token in tokens))
    found_verdicts: list[Verdict] = []
    for rule in RULES:
        found = rule.find(tokens, lemmas)
        if found:
            found_verdicts.append(_verdict(rule, tokens, found))
            if rule.acute:
                break
    heights = _heights(tokens)
    if heights:
        found_verdicts.append(Verdict(True, ACUTE, "on-a-height", (" ".join(tokens[j].text for j in heights),),
                                      acute=True))
    farewell = _farewell(tokens, lemmas)
    if farewell:
        found_verdicts.append(farewell)
    if not found_verdicts:
        return NO_RISK
    found_verdicts.sort(key=lambda v: (not v.acute, CATEGORIES.index(v.category)))
    return found_verdicts[0]

