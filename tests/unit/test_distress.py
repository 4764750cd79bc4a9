"""Distress from what callers say and how the call goes: the lexicons, the conversation and the eval set."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.config import REPO_ROOT, Language
from ivr.errors import GrammarError
from ivr.signals.distress import (
    ConversationSignals,
    Distress,
    DistressLexicon,
    assess_distress,
    find_word_hits,
    load_distress_lexicon,
    parse_distress_lexicon,
)

GRAMMARS = REPO_ROOT / "grammars"
EVAL_SET = REPO_ROOT / "tests" / "data" / "eval" / "utterances.yaml"
THRESHOLD = 0.6  # what the sample rules transfer at
TAXONOMY = {
    "opening_hours", "order_status", "payment_failed", "refund", "balance", "cancel_subscription",
    "complaint", "bereavement", "fraud", "address_change", "password_reset", "agent_request", "unknown",
}  # fmt: skip
SELF_SERVICE = {"opening_hours", "order_status", "address_change", "password_reset"}
QUIET = ConversationSignals()


@pytest.fixture(scope="module")
def lexicons() -> dict[str, DistressLexicon]:
    """The word lists alone: how matching, negation, conversation and voice work, without the learned model."""
    return {lang: replace(load_distress_lexicon(GRAMMARS, lang), learned=None) for lang in ("nl", "en")}


@pytest.fixture(scope="module")
def learned() -> dict[str, DistressLexicon]:
    """As the server loads them: word lists plus the calm/upset model learned from training.yaml."""
    return {lang: load_distress_lexicon(GRAMMARS, lang) for lang in ("nl", "en")}


def distress(text: str, lang: Language, lexicons: dict[str, DistressLexicon], **conv: Any) -> Distress:
    return assess_distress(text, lang, lexicons[lang], ConversationSignals(**conv), None)


def eval_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["items"]
    return items


# ── the evaluation set ────────────────────────────────────────────────────────────────────────────────────
def test_eval_set_is_large_varied_and_consistently_labelled() -> None:
    items = eval_items()
    langs = Counter(i["lang"] for i in items)
    assert len(items) >= 160
    assert langs["nl"] >= 85 and langs["en"] >= 65
    assert sum(1 for i in items if i["lang"] == "nl" and i.get("region")) >= 20
    assert 0.25 <= sum(i["distressed"] for i in items) / len(items) <= 0.35
    assert {i["intent"] for i in items} == TAXONOMY
    distressed_intents = {i["intent"] for i in items if i["distressed"]}
    assert len(distressed_intents) >= 8, "distressed callers should appear across intents"
    assert len({i["text"] for i in items}) == len(items), "no duplicates"
    for item in items:
        assert set(item) <= {"text", "lang", "region", "intent", "distressed", "action"}
        assert item["text"] == item["text"].lower() and "," not in item["text"] and "." not in item["text"]
        if item["distressed"] or item["intent"] not in SELF_SERVICE | {"unknown"}:
            expected = "transfer"
        else:
            expected = "self_service" if item["intent"] in SELF_SERVICE else "clarify"
        assert item["action"] == expected, item["text"]


def test_distress_words_catch_distressed_callers_without_false_alarms(
    lexicons: dict[str, DistressLexicon],
) -> None:
    """Text and conversation only (first turn, no voice): recall ≥ 90 % at 0.6, false alarms ≤ 10 %."""
    items = eval_items()
    missed: list[str] = []
    alarms: list[str] = []
    for item in items:
        result = distress(item["text"], item["lang"], lexicons)
        if item["distressed"] and result.level < THRESHOLD:
            missed.append(f"{result.level:.2f} {item['text']}")
        if not item["distressed"] and result.level >= THRESHOLD:
            alarms.append(f"{result.level:.2f} {item['text']} {result.reasons}")
    upset = sum(1 for i in items if i["distressed"])
    calm = len(items) - upset
    recall = 1 - len(missed) / upset
    false_alarms = len(alarms) / calm
    print(f"\ndistress @ {THRESHOLD}: recall {recall:.1%} ({upset - len(missed)}/{upset}), "
          f"false alarms {false_alarms:.1%} ({len(alarms)}/{calm})")  # fmt: skip
    for line in missed:
        print("   missed:", line)
    for line in alarms:
        print("   false alarm:", line)
    assert recall >= 0.9
    assert false_alarms <= 0.1


# ── lexicon files ─────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_lexicon_has_every_kind_of_distress(lexicons: dict[str, DistressLexicon], lang: str) -> None:
    names = {c.name for c in lexicons[lang].categories}
    assert {"grief", "anger", "despair", "urgency", "fraud_panic", "profanity"} <= names
    assert lexicons[lang].negators and lexicons[lang].intensifiers


def test_invalid_lexicon_names_the_file_and_the_problem() -> None:
    text = "language: nl\ncategories:\n  grief:\n    label: grief words\n    weight: 1.5\n    terms: [dood]\n"
    with pytest.raises(GrammarError, match=r"nl/distress.yaml: categories.grief.weight"):
        parse_distress_lexicon(text, "grammars/nl/distress.yaml")


def test_a_dampener_for_a_category_the_lexicon_lacks_is_refused() -> None:
    text = (
        "language: nl\ncategories:\n  grief:\n    label: grief words\n    weight: 0.7\n    terms: [overleden]\n"
        "dampen:\n  - {label: paperwork, category: grif, factor: 0.5, terms: [notaris]}\n"
    )
    with pytest.raises(GrammarError, match=r"nl/distress.yaml: dampen 'paperwork': no category 'grif'"):
        parse_distress_lexicon(text, "grammars/nl/distress.yaml")


def test_a_context_that_strengthens_by_less_than_one_is_refused() -> None:
    text = (
        "language: nl\ncategories:\n  grief:\n    label: grief words\n    weight: 0.7\n    terms: [overleden]\n"
        "strengthen:\n  - {label: fresh, category: grief, factor: 0.5, terms: [gisteren]}\n"
    )
    with pytest.raises(GrammarError, match=r"nl/distress.yaml: strengthen.0.factor"):
        parse_distress_lexicon(text, "grammars/nl/distress.yaml")


def test_lexicon_under_the_wrong_language_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "distress.yaml").write_text((GRAMMARS / "nl" / "distress.yaml").read_text())
    with pytest.raises(GrammarError, match="lives under 'en'"):
        load_distress_lexicon(tmp_path, "en")


# ── words ─────────────────────────────────────────────────────────────────────────────────────────────────
def test_grief_words_are_named_in_the_reason(lexicons: dict[str, DistressLexicon]) -> None:
    result = distress("mijn moeder is vorige week overleden", "nl", lexicons)
    assert result.level >= THRESHOLD
    assert "grief words: 'overleden' (a fresh loss)" in result.reasons


def test_a_death_of_days_ago_weighs_more_than_one_of_years_ago(lexicons: dict[str, DistressLexicon]) -> None:
    # the guide counts a recent death of someone close as grief, also when it is said calmly
    fresh = distress("de begrafenis was gisteren", "nl", lexicons)
    old = distress("de begrafenis was jaren geleden", "nl", lexicons)
    bare = distress("de begrafenis", "nl", lexicons)
    assert old.words < bare.words < fresh.words
    assert "grief words: 'begrafenis' (a fresh loss)" in fresh.reasons


def test_a_compound_the_recogniser_split_still_counts(lexicons: dict[str, DistressLexicon]) -> None:
    result = distress("mijn vader is over leden", "nl", lexicons)
    assert result.level >= THRESHOLD
    assert "grief words: 'over leden'" in result.reasons


def test_a_one_letter_slip_in_a_long_word_counts_a_little_less(lexicons: dict[str, DistressLexicon]) -> None:
    exact = distress("ik ben opgelicht", "nl", lexicons)
    slip = distress("ik ben opgelichd", "nl", lexicons)
    assert 0 < slip.level < exact.level
    assert "fraud panic words: 'opgelichd' (~opgelicht)" in slip.reasons


def test_two_words_joined_are_not_also_taken_for_a_slip(lexicons: dict[str, DistressLexicon]) -> None:
    hits = find_word_hits("this is a disgrace", lexicons["en"])
    assert [(h.heard, h.fuzzy) for h in hits] == [("disgrace", False)]


def test_real_words_close_to_a_lexicon_word_are_not_slips(lexicons: dict[str, DistressLexicon]) -> None:
    assert distress("de bedragen op mijn factuur kloppen niet", "nl", lexicons).level == 0.0


def test_stems_match_inflections(lexicons: dict[str, DistressLexicon]) -> None:
    assert distress("we are bereaved", "en", lexicons).level >= THRESHOLD
    hits = find_word_hits("ik ben zo verdrietig", lexicons["nl"])
    assert [h.term for h in hits] == ["verdriet*"]


@pytest.mark.parametrize(
    ("angry", "calm", "lang"),
    [
        ("ik ben boos", "ik ben niet boos", "nl"),
        ("ik ben echt kwaad", "ik ben nie kwaad", "nl"),
        ("i'm angry about this", "i'm not angry about this", "en"),
        ("i'm really upset", "i'm not really upset", "en"),
    ],
)
def test_negation_mostly_cancels_the_word(
    lexicons: dict[str, DistressLexicon], angry: str, calm: str, lang: Language
) -> None:
    assert distress(angry, lang, lexicons).level >= 0.5
    negated = distress(calm, lang, lexicons)
    assert negated.level < 0.2
    assert any("(negated)" in r for r in negated.reasons)


def test_negation_does_not_reach_into_the_next_clause(lexicons: dict[str, DistressLexicon]) -> None:
    assert distress("it still doesn't work i'm losing my mind", "en", lexicons).level >= THRESHOLD
    assert distress("het werkt niet ik word er gek van", "nl", lexicons).level >= THRESHOLD
    assert distress("ik snap niet waarom ik opgelicht ben", "nl", lexicons).level >= THRESHOLD


@pytest.mark.parametrize(
    ("plain", "intense", "lang"),
    [
        ("dit is belachelijk", "dit is echt belachelijk", "nl"),
        ("dat is schandalig", "dat is verschrikkelijk schandalig", "nl"),
        ("this is ridiculous", "this is absolutely ridiculous", "en"),
    ],
)
def test_intensifiers_strengthen_the_word(
    lexicons: dict[str, DistressLexicon], plain: str, intense: str, lang: Language
) -> None:
    low = distress(plain, lang, lexicons)
    high = distress(intense, lang, lexicons)
    assert high.level > low.level
    assert high.level >= THRESHOLD > low.level
    assert any("(intensified)" in r for r in high.reasons)


def test_phrases_allow_fillers_and_a_word_in_between(lexicons: dict[str, DistressLexicon]) -> None:
    assert distress("ik weet eh echt niet meer wat ik moet doen", "nl", lexicons).level >= THRESHOLD
    assert distress("i just don't uh know what to do", "en", lexicons).level >= THRESHOLD


@pytest.mark.parametrize(
    ("grieving", "paperwork", "lang"),
    [
        (
            "mijn vader is vorige week overleden",
            "ik bel namens het notariskantoor over een klant die overleden is",
            "nl",
        ),
        ("my husband died on sunday", "im the executor for a client who died", "en"),
    ],
)
def test_paperwork_around_a_death_is_not_grief(
    lexicons: dict[str, DistressLexicon], grieving: str, paperwork: str, lang: Language
) -> None:
    assert distress(grieving, lang, lexicons).level >= THRESHOLD
    calm = distress(paperwork, lang, lexicons)
    assert calm.level < THRESHOLD
    assert any("paperwork around a death" in reason for reason in calm.reasons)


def test_a_phrase_that_spells_out_the_skipped_word_wins_over_the_looser_one(
    lexicons: dict[str, DistressLexicon],
) -> None:
    # "weet het … niet meer" (despair) matches with "wachtwoord" skipped; the caller only forgot a password.
    assert distress("ik weet het wachtwoord niet meer", "nl", lexicons).level < 0.2
    assert distress("ik weet het echt niet meer", "nl", lexicons).level >= THRESHOLD


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("jullie luisteren gewoon niet", "nl"),
        ("wat een bende is het hier", "nl"),
        ("you people never listen", "en"),
        ("i keep getting passed from pillar to post", "en"),
        ("stomme computer", "nl"),
        ("this stupid machine doesnt understand a word", "en"),
    ],
)
def test_not_being_heard_or_sent_around_is_a_sign_of_frustration(
    lexicons: dict[str, DistressLexicon], text: str, lang: Language
) -> None:
    hits = find_word_hits(text, lexicons[lang])
    assert any(hit.category == "fed_up" for hit in hits), hits


def test_two_word_phrases_must_be_adjacent(lexicons: dict[str, DistressLexicon]) -> None:
    assert distress("i am fed up", "en", lexicons).level >= THRESHOLD
    assert distress("i fed the cat and gave up", "en", lexicons).level == 0.0


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ik heb dit al drie keer gezegd", "nl"),
        ("ik heb nou al vijf keer gebeld", "nl"),
        ("i've said this three times", "en"),
        ("i already told you", "en"),
        ("het is de vierde keer dat ik bel", "nl"),
        ("ik bel al de hele week", "nl"),
        ("it's the third time i've rung today", "en"),
        ("i rang yesterday and the day before", "en"),
    ],
)
def test_saying_it_was_said_before_is_a_sign_of_frustration(
    lexicons: dict[str, DistressLexicon], text: str, lang: Language
) -> None:
    result = distress(text, lang, lexicons)
    assert result.level >= 0.4
    assert any(r.startswith("says it was said before") for r in result.reasons)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("geen probleem hoor het is niet dringend", "nl"),
        ("ik wil graag weten hoe laat jullie open zijn", "nl"),
        ("kunt u mij helpen met mijn wachtwoord", "nl"),
        ("no rush it's not urgent at all", "en"),
        ("could you help me change my address please", "en"),
        ("the dead line for the payment is friday", "en"),
        ("ik ben op vakantie geweest en mijn pakket is terug gestuurd", "nl"),
        ("ik kan toch niet inloggen met mijn nieuwe wachtwoord", "nl"),
        ("hi my name is sue and i'd like to check my balance", "en"),
        ("ik ben bang dat ik het verkeerde adres heb opgegeven", "nl"),
        # "ik kan niet meer inloggen" is a login, not "ik kan niet meer" (despair)
        ("ik kan niet meer inloggen", "nl"),
    ],
)
def test_calm_everyday_requests_stay_well_below_the_threshold(
    lexicons: dict[str, DistressLexicon], text: str, lang: Language
) -> None:
    assert distress(text, lang, lexicons).level < 0.4


def test_swearing_counts(lexicons: dict[str, DistressLexicon]) -> None:
    result = distress("godverdomme waar blijft mijn pakket", "nl", lexicons)
    assert result.level >= THRESHOLD
    assert "swearing: 'godverdomme'" in result.reasons


def test_several_signs_add_up_but_never_past_one(lexicons: dict[str, DistressLexicon]) -> None:
    one = distress("dit is belachelijk", "nl", lexicons)
    two = distress("dit is belachelijk en schandalig", "nl", lexicons)
    many = distress("godverdomme ik ben woedend dit is belachelijk schandalig ik ben wanhopig", "nl", lexicons)
    assert one.level < two.level < many.level <= 1.0


# ── conversation ──────────────────────────────────────────────────────────────────────────────────────────
def test_saying_the_same_thing_a_third_time_is_reported_as_such(lexicons: dict[str, DistressLexicon]) -> None:
    earlier = ("ik wil weten waar mijn pakket is", "eh ik wil weten waar mijn pakket is")
    result = distress("ik wil weten waar mijn pakket blijft", "nl", lexicons, previous_utterances=earlier)
    assert "repeats themselves (3rd time)" in result.reasons
    assert result.conversation >= 0.4
    assert result.words == 0.0


def test_answering_ja_again_is_not_repeating_oneself(lexicons: dict[str, DistressLexicon]) -> None:
    result = distress("ja", "nl", lexicons, previous_utterances=("ja", "ja"))
    assert result.level == 0.0


def test_different_questions_are_not_repetition(lexicons: dict[str, DistressLexicon]) -> None:
    result = distress("wat is mijn saldo", "nl", lexicons, previous_utterances=("hoe laat zijn jullie open",))
    assert result.level == 0.0


def test_talking_over_prompts_and_failing_raise_distress_with_reasons(
    lexicons: dict[str, DistressLexicon],
) -> None:
    result = distress("eh", "nl", lexicons, barge_ins=3, failed_attempts=1)
    assert 0.2 < result.level < THRESHOLD
    assert "talked over the prompts 3 times" in result.reasons
    assert "1 failed attempt(s) in a row" in result.reasons


def test_stuck_and_repeating_with_an_angry_word_reaches_the_threshold(
    lexicons: dict[str, DistressLexicon],
) -> None:
    earlier = ("mijn bestelling is niet aangekomen", "mijn bestelling is niet aangekomen")
    result = distress("mijn bestelling is nog niet aangekomen belachelijk", "nl", lexicons,
                      previous_utterances=earlier, barge_ins=2)  # fmt: skip
    assert result.level >= THRESHOLD


# ── voice ─────────────────────────────────────────────────────────────────────────────────────────────────
def test_voice_arousal_alone_can_reach_but_not_pass_the_threshold(
    lexicons: dict[str, DistressLexicon],
) -> None:
    loud = ("voice louder than own baseline (+9 dB)",)
    result = assess_distress("waar is mijn pakket", "nl", lexicons["nl"], QUIET, (1.0, loud))
    assert result.level == pytest.approx(0.6)
    assert loud[0] in result.reasons
    assert result.voice == 1.0
    calm = assess_distress("waar is mijn pakket", "nl", lexicons["nl"], QUIET, (0.0, ()))
    assert calm.level == 0.0


def test_words_and_voice_together_exceed_each_alone(lexicons: dict[str, DistressLexicon]) -> None:
    words = assess_distress("dit is belachelijk", "nl", lexicons["nl"], QUIET, None)
    both = assess_distress("dit is belachelijk", "nl", lexicons["nl"], QUIET, (0.5, ("louder",)))
    assert both.level > max(words.level, 0.3)
    assert both.level >= THRESHOLD


def test_a_lexicon_for_another_language_is_a_programming_error(lexicons: dict[str, DistressLexicon]) -> None:
    with pytest.raises(ValueError, match="lexicon is for 'nl'"):
        assess_distress("hello", "en", lexicons["nl"], QUIET)


# ── the learned calm/upset model ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # upset, but in words no lexicon lists: the labelled sentences teach it
        ("er is vannacht vijfhonderd euro van mijn rekening verdwenen en ik heb niks gekocht", "nl"),
        ("ze hebben mijn pinpas gebruikt en nu is al mijn spaargeld weg", "nl"),
        ("somebody emptied my account overnight and i have no idea how", "en"),
        ("someone is using my card right now please block it", "en"),
    ],
)
def test_upset_callers_are_recognised_beyond_the_word_lists(
    lexicons: dict[str, DistressLexicon], learned: dict[str, DistressLexicon], text: str, lang: Language
) -> None:
    with_model = distress(text, lang, learned)
    assert with_model.level >= THRESHOLD
    assert with_model.level > distress(text, lang, lexicons).level
    assert any(reason.startswith("sounds like upset callers") for reason in with_model.reasons)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("hoe laat zijn jullie morgen open", "nl"),
        ("ik wil graag mijn nieuwe adres doorgeven", "nl"),
        ("ik ben niet boos hoor ik wil alleen iets vragen", "nl"),
        ("could you tell me my balance please", "en"),
        ("no rush it's not urgent at all", "en"),
        ("i'm not angry about this just curious", "en"),
    ],
)
def test_the_learned_model_leaves_calm_callers_calm(
    learned: dict[str, DistressLexicon], text: str, lang: Language
) -> None:
    assert distress(text, lang, learned).level < THRESHOLD


def test_the_learned_reasons_name_telling_words_not_function_words(learned: dict[str, DistressLexicon]) -> None:
    result = distress("er is vannacht geld van mijn rekening gehaald en ik heb niks gekocht", "nl", learned)
    reason = next(r for r in result.reasons if r.startswith("sounds like upset callers"))
    named = reason.split(":", 1)[1]
    assert "'geld'" in named or "'halen'" in named or "'niks'" in named
    assert all(f"'{w}'" not in named for w in ("en", "ik", "van", "mijn", "hebben", "zijn"))


def test_without_labelled_sentences_there_is_no_learned_model(tmp_path: Path) -> None:
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "distress.yaml").write_text((GRAMMARS / "nl" / "distress.yaml").read_text(encoding="utf-8"))
    lexicon = load_distress_lexicon(tmp_path, "nl")
    assert lexicon.learned is None
    assert assess_distress("ik word er gek van", "nl", lexicon, QUIET).learned == 0.0
