"""The evaluation sets: the figures in docs/safety.md, guarded so they cannot regress."""

import pytest

from bot.safety import evaluation
from bot.safety.detector import _STRONG_FAREWELL, _WEAK_FAREWELL, CATEGORIES, RULES, _vocabulary, detect
from bot.safety.text import tokenize

TUNING = evaluation.load("tuning")
DEV = evaluation.load("dev")
HELDOUT = evaluation.load("heldout")
HELDOUT2 = evaluation.load("heldout2")


def test_the_sets_are_big_enough_and_cover_every_category():
    crisis = [r for r in TUNING if r["label"] == "crisis"]
    ordinary = [r for r in TUNING if r["label"] == "ordinary"]
    assert len(crisis) >= 100 and len(ordinary) >= 100
    assert {r["category"] for r in crisis} == set(CATEGORIES)
    ordinary_categories = {r["category"] for r in ordinary}
    assert {"idiom", "journey", "fear", "old_self", "anger", "everyday", "negation"} <= ordinary_categories
    assert len(HELDOUT) >= 40 and len(HELDOUT2) >= 150
    dev_crisis = [r for r in DEV if r["label"] == "crisis"]
    assert len(dev_crisis) >= 150 and len(DEV) - len(dev_crisis) >= 150
    assert {r["category"] for r in dev_crisis} == set(CATEGORIES)
    assert {"idiom", "journey", "fear", "old_self", "anger", "tiredness", "negation", "media"} <= \
        {r["category"] for r in DEV if r["label"] == "ordinary"}
    assert not {r["text"].lower() for r in DEV} & {r["text"].lower() for r in TUNING}  # new phrasings only


def test_offline_detector_on_the_tuning_set():
    score = evaluation.score_offline(TUNING)
    print("tuning:", score.line())
    assert score.recall >= 0.95, score.misses
    assert score.false_positive_rate <= 0.05, score.alarms


def test_offline_detector_on_the_development_set():
    # Eleven fresh batches written for the generalising rules (docs/safety.md: 97.3 % / 0.0 %).
    score = evaluation.score_offline(DEV)
    print("dev:", score.line())
    assert score.recall >= 0.95, score.misses
    assert score.false_positive_rate <= 0.02, score.alarms


def test_offline_detector_on_the_held_out_set_does_not_regress():
    # Written by someone who did not tune the rules; its texts were never read (docs/safety.md:
    # 80.0 % recall, 7.9 % false positives at the last measurement). Guarded a little below.
    score = evaluation.score_offline(HELDOUT)
    print("held-out:", score.line())
    assert score.recall >= 0.77
    assert score.false_positive_rate <= 0.095


def test_offline_detector_on_the_second_held_out_set_does_not_regress():
    # Written blind while the second round worked, scored once on the frozen detector
    # (docs/safety.md: 68.8 % recall, 7.4 % false positives). Guarded two messages below.
    score = evaluation.score_offline(HELDOUT2)
    print("held-out 2:", score.line())
    assert score.recall >= 0.66
    assert score.false_positive_rate <= 0.085


@pytest.mark.django_db
def test_combined_gate_against_the_fake_llm(fake_llm, settings):
    settings.LLM_MAX_ATTEMPTS = 1
    rows = TUNING + HELDOUT + HELDOUT2
    offline = evaluation.score_offline(rows)
    labels = {r["text"]: r["label"] for r in rows}

    def agreeing(body):
        text = body["messages"][-1]["content"].split("\n", 1)[1].rsplit("\n", 1)[0]
        return {"risk": "crisis" if labels.get(text) == "crisis" else "none", "reply": "ок", "quick_replies": []}

    fake_llm.responder = agreeing
    combined = evaluation.score_gate(rows)
    assert combined.recall == 1.0  # every miss of the offline detector is caught by the LLM's judgement
    assert combined.false_alarms == offline.false_alarms  # and the LLM adds no false alarm of its own
    fake_llm.responder = lambda body: 500
    settings.LLM_TOTAL_BUDGET = 0.05  # no backoff pause: "down" is what is measured here
    down = evaluation.score_gate(rows)
    assert (down.caught, down.false_alarms) == (offline.caught, offline.false_alarms)


@pytest.mark.parametrize("text", ["умираю от смеха", "убить привычку", "смерть эго", "дедлайны убивают",
                                  "убийственно скучно", "смерть старого себя"])
def test_dark_idioms_stay_ordinary(text):
    assert not detect(text).risk


def test_verdict_names_category_and_evidence():
    verdict = detect("думаю вскрыть вены")
    assert verdict.category == "method" and verdict.evidence == ("вскрыть вены",)
    assert "способ" in verdict.describe()


@pytest.mark.parametrize(("text", "risk"), [
    # negation reaches only through filler words, and a fresh predicate ends its reach
    ("не понимаю, зачем я живу", True),
    ("не хочу умирать, хочу жить", False),
    ("я не хочу его видеть, хочу, чтобы всё прекратилось навсегда", True),
    ("мысли о суициде? нет, такого нет", False),
    ("меня никто не бьет, просто ругаемся", False),
    ("устала от жизни и не хочу больше ничего", True),
    # «жить» modified (how) or not (whether)
    ("не хочу жить, и это пугает", True),
    ("устала жить чужой жизнью", False),
    ("не хочу так жить, хочу перемен", False),
    ("не хочу жить в этом городе", False),
    # someone else's words or life
    ("песня «Я хочу умереть молодым» у меня на повторе", False),
    ("читаю Анну Каренину, она бросилась под поезд", False),
    ("смотрела документалку про выживших после передозировки", False),
    ("в новостях пишут, что мужчина угрожал соседу ножом", False),
    ("он ушел, и я не хочу жить", True),
    # word order within a clause
    ("сил жить нет", True),
    ("хочу под машину броситься", True),
    ("мне больше не хочется быть здесь", True),
    # a misspelt reflexive still counts
    ("я хочю покончить с сабой", True),
])
def test_generalising_frames(text, risk):
    assert detect(text).risk is risk, detect(text)


def test_two_farewell_cues_must_be_close():
    far = "прощай, лето. " + "обычный день на работе, ничего особенного. " * 10 + "мне больше ничего не нужно"
    assert not detect(far).risk
    assert detect("прощайте. мне больше ничего не нужно").category == "farewell"


def test_no_rule_is_skipped_for_a_message_it_matches():
    """``detect`` skips a rule whose words are absent from the message (``Rule.possible``): on every
    evaluation message, each rule that matches must have been possible."""
    rules = (*RULES, *_STRONG_FAREWELL, *_WEAK_FAREWELL)
    matched = 0
    for row in TUNING + DEV + HELDOUT + HELDOUT2:
        tokens = tokenize(row["text"], vocabulary=_vocabulary())
        lemmas = frozenset().union(*(token.lemmas for token in tokens))
        for rule in rules:
            if rule.find(tokens):
                matched += 1
                assert rule.possible(lemmas), (rule.name, row["text"])
    assert matched >= 300  # the check ran over real matches
    assert sum(bool(rule._needs) for rule in rules) >= len(rules) * 0.9  # and the skip applies to most rules
