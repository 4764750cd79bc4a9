"""Supervisor transfer rules: line-numbered load errors, evaluation, built-in promises, live reloading."""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ivr.config import REPO_ROOT
from ivr.rules.book import VERSIONS_FILE, RuleBook
from ivr.rules.evaluate import TurnSignals, evaluate, firing_rules
from ivr.rules.loader import RulesError, load_rules, parse_rules
from ivr.rules.schema import PhoneTarget, RuleSet, SipTarget, TaskRouterTarget
from ivr.signals.distress import ConversationSignals, Distress, assess_distress, load_distress_lexicon
from ivr.signals.recognition import RecognitionEstimate, update_recognition
from ivr.speech.types import Transcript, Word

SAMPLE = REPO_ROOT / "rules.yaml"
EVAL_SET = REPO_ROOT / "tests" / "data" / "eval" / "utterances.yaml"
TAXONOMY = [
    "opening_hours", "order_status", "payment_failed", "refund", "balance", "cancel_subscription",
    "complaint", "bereavement", "fraud", "address_change", "password_reset", "agent_request", "unknown",
]  # fmt: skip
SELF_SERVICE = {"opening_hours", "order_status", "address_change", "password_reset"}
WEEKDAY_MORNING = datetime(2026, 11, 24, 11, 0)

MINIMAL = """\
targets:
  default: {type: phone, number: "+31201234567"}
  team: {type: sip, uri: "sip:team@pbx.example.nl"}
rules:
"""


def rules_text(body: str) -> str:
    return MINIMAL + textwrap.indent(textwrap.dedent(body), "  ")


def rules(body: str) -> RuleSet:
    return parse_rules(rules_text(body), "test.yaml")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``: keeps the tests true when the texts change."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def turn(**changes: object) -> TurnSignals:
    base = TurnSignals(
        intent="unknown",
        intent_confidence=0.9,
        recognition=RecognitionEstimate(),
        distress=Distress(0.0),
        failed_attempts=0,
        text="",
        language="nl",
        local_time=WEEKDAY_MORNING,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def poor_recognition(turns: int) -> RecognitionEstimate:
    estimate = RecognitionEstimate()
    mumble = Transcript("eh", (Word("eh", 0.2),))
    for _ in range(turns):
        estimate = update_recognition(estimate, mumble, matched=False)
    return estimate


# ── the sample file ───────────────────────────────────────────────────────────────────────────────────────
def test_sample_rules_file_loads_with_all_target_kinds() -> None:
    sample = load_rules(SAMPLE, known_intents=TAXONOMY)
    kinds = {type(t) for t in sample.targets.values()}
    assert kinds == {PhoneTarget, SipTarget, TaskRouterTarget}
    assert "default" in sample.targets
    names = {r.name for r in sample.rules}
    assert {"rouw", "fraude"} <= names


def test_sample_rules_send_every_person_intent_to_a_person() -> None:
    sample = load_rules(SAMPLE)
    for intent in (
        "bereavement",
        "fraud",
        "complaint",
        "cancel_subscription",
        "payment_failed",
        "refund",
        "balance",
    ):
        decision = evaluate(sample, turn(intent=intent))
        assert decision is not None, intent
        assert not decision.builtin
    for intent in SELF_SERVICE | {"unknown"}:
        assert evaluate(sample, turn(intent=intent)) is None, intent


def test_sample_rules_send_bereavement_to_the_grief_team_with_plain_words() -> None:
    decision = evaluate(load_rules(SAMPLE), turn(intent="bereavement"))
    assert decision is not None
    assert decision.rule == "rouw"
    assert decision.target_name == "rouwteam"
    assert isinstance(decision.target, SipTarget)
    assert "Rouw" in decision.reason
    assert decision.code == "needs_person"


def test_sample_rules_transfer_a_distressed_caller_asking_about_opening_hours() -> None:
    sample = load_rules(SAMPLE)
    upset = Distress(0.7, ("anger words: 'woedend'",))
    decision = evaluate(sample, turn(intent="opening_hours", distress=upset))
    assert decision is not None and decision.rule == "van-streek"
    assert any("woedend" in m for m in decision.matched)
    assert evaluate(sample, turn(intent="opening_hours", distress=Distress(0.59))) is None


def test_sample_rules_transfer_a_caller_hard_to_understand_for_two_turns() -> None:
    sample = load_rules(SAMPLE)
    assert evaluate(sample, turn(intent="order_status", recognition=poor_recognition(1))) is None
    decision = evaluate(sample, turn(intent="order_status", recognition=poor_recognition(2)))
    assert decision is not None and decision.rule == "slecht-verstaanbaar"
    assert decision.code == "low_confidence"
    english = evaluate(sample, turn(intent="order_status", language="en", recognition=poor_recognition(2)))
    assert english is not None and english.target_name == "engelstalig"


def test_sample_rules_route_money_questions_to_the_evening_shift_after_five() -> None:
    sample = load_rules(SAMPLE)
    day = evaluate(sample, turn(intent="refund", local_time=datetime(2026, 11, 24, 16, 59)))
    evening = evaluate(sample, turn(intent="refund", local_time=datetime(2026, 11, 24, 17, 0)))
    night = evaluate(sample, turn(intent="complaint", local_time=datetime(2026, 11, 25, 3, 30)))
    assert day is not None and day.target_name == "financien"
    assert evening is not None and evening.target_name == "avonddienst"
    assert night is not None and night.target_name == "avonddienst"


def test_sample_rules_route_the_labelled_first_turns_as_labelled() -> None:
    """Gold intents, distress computed from the words: the rules give the labelled first-turn action."""
    sample = load_rules(SAMPLE)
    lexicons = {lang: load_distress_lexicon(REPO_ROOT / "grammars", lang) for lang in ("nl", "en")}
    items = yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["items"]
    wrong: list[str] = []
    for item in items:
        distress = assess_distress(item["text"], item["lang"], lexicons[item["lang"]], ConversationSignals())
        clear = update_recognition(
            RecognitionEstimate(),
            Transcript(item["text"], tuple(Word(w, 0.95) for w in item["text"].split())),
            True,
        )
        ctx = turn(
            intent=item["intent"],
            text=item["text"],
            language=item["lang"],
            distress=distress,
            recognition=clear,
            caller_asked_for_person=item["intent"] == "agent_request",
        )
        decision = evaluate(sample, ctx)
        action = "transfer" if decision is not None else "clarify" if item["intent"] == "unknown" else "self_service"
        if action != item["action"]:
            wrong.append(f"{item['text']!r}: expected {item['action']}, got {action} (distress {distress.level})")
    accuracy = 1 - len(wrong) / len(items)
    print(f"\nfirst-turn routing under rules.yaml: {accuracy:.1%} of {len(items)} as labelled")
    for line in wrong:
        print("  ", line)
    assert accuracy >= 0.95


# ── each condition ────────────────────────────────────────────────────────────────────────────────────────
def test_intent_condition_fires_only_for_listed_intents_and_confident_enough() -> None:
    rs = rules("""\
        - name: fraude
          description: fraude
          when: {intent: [fraud], intent_confidence_at_least: 0.6}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(intent="fraud", intent_confidence=0.8)) is not None
    assert evaluate(rs, turn(intent="fraud", intent_confidence=0.5)) is None
    assert evaluate(rs, turn(intent="refund", intent_confidence=0.99)) is None


def test_recognition_condition_counts_consecutive_turns_below_its_own_level() -> None:
    rs = rules("""\
        - name: onverstaanbaar
          description: moeilijk te verstaan
          when: {recognition_below: {level: 0.45, turns: 3}}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(recognition=poor_recognition(2))) is None
    decision = evaluate(rs, turn(recognition=poor_recognition(3)))
    assert decision is not None and decision.code == "low_confidence"


def test_distress_condition_is_inclusive_of_its_threshold() -> None:
    rs = rules("""\
        - name: streek
          description: van streek
          when: {distress_at_least: 0.6}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(distress=Distress(0.6))) is not None
    assert evaluate(rs, turn(distress=Distress(0.599))) is None


def test_failed_attempts_condition_can_transfer_after_one_failure() -> None:
    rs = rules("""\
        - name: snel
          description: na een mislukte poging
          when: {failed_attempts_at_least: 1, language: en}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(failed_attempts=0, language="en")) is None
    decision = evaluate(rs, turn(failed_attempts=1, language="en"))
    assert decision is not None and decision.rule == "snel" and decision.code == "repeated_failure"
    assert evaluate(rs, turn(failed_attempts=1, language="nl")) is None


def test_time_window_runs_across_midnight_and_converts_aware_times_to_the_rules_zone() -> None:
    rs = rules("""\
        - name: nacht
          description: nachtdienst
          when: {time: "17:00-09:00"}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(local_time=datetime(2026, 11, 24, 23, 15))) is not None
    assert evaluate(rs, turn(local_time=datetime(2026, 11, 24, 8, 59))) is not None
    assert evaluate(rs, turn(local_time=datetime(2026, 11, 24, 9, 0))) is None
    # 16:30 UTC is 17:30 in Amsterdam in November
    assert evaluate(rs, turn(local_time=datetime(2026, 11, 24, 16, 30, tzinfo=UTC))) is not None
    # 07:30 UTC is 09:30 in Amsterdam in July (summer time)
    assert evaluate(rs, turn(local_time=datetime(2026, 7, 1, 7, 30, tzinfo=UTC))) is None


def test_keyword_condition_matches_whole_words_phrases_and_stems() -> None:
    rs = rules("""\
        - name: juridisch
          description: juridisch
          when: {keywords: [advocaat, "legal action", "juridisch*"]}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(text="dan stap ik naar mijn advocaat")) is not None
    assert evaluate(rs, turn(text="we will take legal action", language="en")) is not None
    assert evaluate(rs, turn(text="ik zoek juridische hulp")) is not None
    decision = evaluate(rs, turn(text="Advocaat!"))
    assert decision is not None and "said 'advocaat'" in decision.matched
    assert evaluate(rs, turn(text="ik ben advocaatje aan het drinken")) is None
    assert evaluate(rs, turn(text="legal and action")) is None


def test_language_condition_accepts_a_single_code_or_a_list() -> None:
    rs = rules("""\
        - name: engels
          description: English
          when: {language: en, intent: [complaint]}
          target: team
          priority: 50
        """)
    assert evaluate(rs, turn(intent="complaint", language="en")) is not None
    assert evaluate(rs, turn(intent="complaint", language="nl")) is None


# ── order and priority ────────────────────────────────────────────────────────────────────────────────────
ORDERED = """\
    - name: algemeen
      description: van streek
      when: {distress_at_least: 0.5}
      target: default
      priority: 40
    - name: fraude
      description: fraude
      when: {intent: [fraud]}
      target: team
      priority: 90
    - name: ook-fraude
      description: fraude, tweede regel
      when: {intent: [fraud]}
      target: default
      priority: 90
    """


def test_highest_priority_wins_whatever_its_place_in_the_file() -> None:
    decision = evaluate(rules(ORDERED), turn(intent="fraud", distress=Distress(0.8)))
    assert decision is not None
    assert decision.rule == "fraude"
    assert decision.priority == 90


def test_equal_priorities_go_to_the_rule_higher_in_the_file() -> None:
    rs = rules(ORDERED)
    fired = [rule.name for rule, _ in firing_rules(rs, turn(intent="fraud", distress=Distress(0.8)))]
    assert fired == ["algemeen", "fraude", "ook-fraude"]
    decision = evaluate(rs, turn(intent="fraud"))
    assert decision is not None and decision.rule == "fraude"


# ── built-in promises ─────────────────────────────────────────────────────────────────────────────────────
def test_pressing_zero_always_transfers_to_default_even_when_a_rule_fires() -> None:
    decision = evaluate(rules(ORDERED), turn(intent="fraud", pressed_zero=True))
    assert decision is not None
    assert decision.builtin and decision.rule == "keypad_zero"
    assert decision.target_name == "default" and decision.code == "keypad_zero"


def test_asking_for_a_person_transfers_even_with_no_rules_at_all() -> None:
    bare = parse_rules('targets:\n  default: {type: phone, number: "+31201234567"}\n', "bare.yaml")
    decision = evaluate(bare, turn(caller_asked_for_person=True, text="mag ik een medewerker"))
    assert decision is not None and decision.builtin and decision.code == "caller_request"
    assert decision.reason == "Beller vroeg om een medewerker"


def test_a_rules_key_with_every_rule_commented_out_keeps_only_the_promises() -> None:
    bare = parse_rules(MINIMAL + "  # - name: rouw\n", "bare.yaml")
    assert bare.rules == ()
    assert evaluate(bare, turn(intent="bereavement")) is None
    assert evaluate(bare, turn(pressed_zero=True)) is not None


def test_two_failures_in_a_row_transfer_but_one_does_not() -> None:
    bare = parse_rules('targets:\n  default: {type: phone, number: "+31201234567"}\n', "bare.yaml")
    assert evaluate(bare, turn(failed_attempts=1)) is None
    decision = evaluate(bare, turn(failed_attempts=2))
    assert decision is not None and decision.rule == "repeated_failure" and decision.builtin


def test_builtins_can_be_reworded_but_not_switched_off() -> None:
    text = rules_text("") + 'builtins:\n  caller_request: {description: "Wil een mens"}\n'
    reworded = parse_rules(text.replace("rules:\n", "rules: []\n"), "ok.yaml")
    decision = evaluate(reworded, turn(caller_asked_for_person=True))
    assert decision is not None and decision.reason == "Wil een mens"

    off = 'targets:\n  default: {type: phone, number: "+31201234567"}\n'
    off += "builtins:\n  keypad_zero: {enabled: false}\n"
    with pytest.raises(RulesError) as caught:
        parse_rules(off, "off.yaml")
    assert caught.value.line == 4
    assert "cannot be switched off" in str(caught.value)


def test_a_rule_cannot_take_the_name_of_a_builtin() -> None:
    text = rules_text("""\
        - name: caller_request
          description: x
          when: {intent: [fraud]}
          target: team
          priority: 1
        """)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "r.yaml")
    assert caught.value.line == line_of(text, "name: caller_request")
    assert "reserved" in str(caught.value)


def test_rules_without_a_default_target_are_refused() -> None:
    text = 'targets:\n  team: {type: sip, uri: "sip:a@b.nl"}\n'
    with pytest.raises(RulesError, match="must include 'default'") as caught:
        parse_rules(text, "r.yaml")
    assert caught.value.line == 1


# ── invalid files name the line ───────────────────────────────────────────────────────────────────────────
def test_yaml_syntax_error_names_file_and_line() -> None:
    text = rules_text("""\
        - name: rouw
          description: rouw
          when: {intent: [bereavement}
          target: team
          priority: 90
        """)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    message = str(caught.value)
    assert message.startswith(f"rules.yaml:{line_of(text, 'intent: [bereavement}')}:")
    assert "YAML syntax" in message


def test_unknown_field_names_its_line_and_suggests_the_right_one() -> None:
    text = rules_text("""\
        - name: streek
          description: van streek
          when:
            distres_at_least: 0.6
          target: team
          priority: 80
        """)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    message = str(caught.value)
    assert f"rules.yaml:{line_of(text, 'distres_at_least')}:" in message
    assert "rule 'streek'" in message
    assert "did you mean 'distress_at_least'" in message


def test_unknown_target_is_reported_at_the_rules_target_line() -> None:
    text = rules_text("""\
        - name: rouw
          description: rouw
          when: {intent: [bereavement]}
          target: team
          priority: 90
        - name: fraude
          description: fraude
          when: {intent: [fraud]}
          target: fraudeteam
          priority: 95
        """)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    assert caught.value.line == line_of(text, "target: fraudeteam")
    assert "unknown target 'fraudeteam'" in str(caught.value)


@pytest.mark.parametrize(
    ("window", "complaint"),
    [("25:00-09:00", "not a time"), ("17:00", "must look like"), ("09:00-09:00", "same time")],
)
def test_bad_time_window_is_reported_at_its_line(window: str, complaint: str) -> None:
    text = rules_text(f"""\
        - name: nacht
          description: nacht
          when:
            intent: [complaint]
            time: "{window}"
          target: team
          priority: 50
        """)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    assert caught.value.line == line_of(text, "time:")
    assert complaint in str(caught.value)


def test_unquoted_phone_number_is_explained() -> None:
    text = "targets:\n  default:\n    type: phone\n    number: +31201234567\n"
    with pytest.raises(RulesError, match="in quotes") as caught:
        parse_rules(text, "rules.yaml")
    assert caught.value.line == 4


def test_duplicate_target_names_are_refused_with_both_lines() -> None:
    text = MINIMAL.replace("rules:\n", '  team: {type: sip, uri: "sip:x@pbx.nl"}\n')
    with pytest.raises(RulesError, match=r"duplicate key \(first on line 3\)") as caught:
        parse_rules(text, "rules.yaml")
    assert caught.value.line == 4


def test_misspelt_intent_is_caught_when_the_intents_are_known() -> None:
    text = rules_text("""\
        - name: rouw
          description: rouw
          when: {intent: [bereavment]}
          target: team
          priority: 90
        """)
    parse_rules(text, "rules.yaml")  # without the list of intents it cannot know
    with pytest.raises(RulesError, match="unknown intent") as caught:
        parse_rules(text, "rules.yaml", known_intents=TAXONOMY)
    assert caught.value.line == line_of(text, "bereavment")


def test_a_rule_without_conditions_is_refused() -> None:
    text = rules_text("""\
        - name: altijd
          description: altijd
          when: {}
          target: team
          priority: 1
        """)
    with pytest.raises(RulesError, match="at least one condition") as caught:
        parse_rules(text, "rules.yaml")
    assert caught.value.line == line_of(text, "when:")


def test_every_problem_in_a_file_is_listed() -> None:
    text = rules_text("""\
        - name: a
          description: a
          when: {distress_at_least: 1.5}
          target: team
          priority: 50
        - name: b
          description: b
          when: {intent: [fraud]}
          target: team
          priority: 500
        """)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    assert [p.line for p in caught.value.problems] == [line_of(text, "1.5"), line_of(text, "priority: 500")]


def test_empty_and_missing_files_are_errors() -> None:
    with pytest.raises(RulesError, match="empty"):
        parse_rules("# nothing yet\n", "rules.yaml")
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(Path("/nonexistent/rules.yaml"))


# ── the live rule book ────────────────────────────────────────────────────────────────────────────────────
GOOD_V1 = rules_text("""\
    - name: rouw
      description: rouw
      when: {intent: [bereavement]}
      target: team
      priority: 90
    """)
GOOD_V2 = GOOD_V1.replace("intent: [bereavement]", "intent: [bereavement, fraud]")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_rulebook_records_a_version_per_accepted_change(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_V1, encoding="utf-8")
    clock = Clock()
    book = RuleBook(path, tmp_path / "data", clock=clock)
    assert book.version.number == 1
    assert book.reload().number == 1  # same text: same version

    path.write_text(GOOD_V2, encoding="utf-8")
    clock.now = clock.now.replace(hour=10)
    v2 = book.reload()
    assert v2.number == 2 and v2.loaded_at.hour == 10
    assert [v.number for v in book.history] == [1, 2]
    assert book.history[0].sha256 != v2.sha256
    assert evaluate(book.active, turn(intent="fraud")) is not None

    logged = [json.loads(line) for line in (tmp_path / "data" / VERSIONS_FILE).read_text().splitlines()]
    assert [entry["version"] for entry in logged] == [1, 2]
    assert logged[1]["sha256"] == v2.sha256


def test_rulebook_keeps_the_last_good_rules_after_a_bad_reload(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_V1, encoding="utf-8")
    book = RuleBook(path)
    good = book.active

    path.write_text(GOOD_V1.replace("target: team", "target: nobody"), encoding="utf-8")
    with pytest.raises(RulesError, match="unknown target 'nobody'"):
        book.reload()
    assert book.active is good
    assert book.version.number == 1
    assert book.last_error is not None
    assert evaluate(book.active, turn(intent="bereavement")) is not None


def test_rulebook_polling_reports_a_broken_file_once_and_picks_up_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_V1, encoding="utf-8")
    book = RuleBook(path)
    assert book.reload_if_changed() is None

    path.write_text("targets: [oops\n", encoding="utf-8")
    with pytest.raises(RulesError, match="YAML syntax"):
        book.reload_if_changed()
    assert book.reload_if_changed() is None  # same broken text: no new error every poll
    assert book.version.number == 1

    path.write_text(GOOD_V2, encoding="utf-8")
    version = book.reload_if_changed()
    assert version is not None and version.number == 2
    assert book.last_error is None


def test_a_file_fixed_back_to_the_active_text_clears_the_reported_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_V1, encoding="utf-8")
    book = RuleBook(path)
    path.write_text("targets: [oops\n", encoding="utf-8")
    with pytest.raises(RulesError):
        book.reload_if_changed()
    assert book.last_error is not None
    path.write_text(GOOD_V1, encoding="utf-8")
    assert book.reload_if_changed() is None and book.version.number == 1
    assert book.last_error is None, "/ops/rules must not keep reporting a problem that is gone"


def test_an_alias_bomb_is_refused_at_once_with_its_line() -> None:
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        previous, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    started = time.perf_counter()
    with pytest.raises(RulesError, match=r"draft:2: YAML aliases \(\*a\) are not allowed"):
        parse_rules("\n".join(levels), "draft")
    assert time.perf_counter() - started < 1.0


def test_a_huge_rules_text_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(RulesError, match="at most 256 KB"):
        parse_rules("# " + "x" * (10 * 1024 * 1024), "draft")


def test_rulebook_continues_numbering_across_restarts_without_duplicating(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    data = tmp_path / "data"
    path.write_text(GOOD_V1, encoding="utf-8")
    RuleBook(path, data)
    assert RuleBook(path, data).version.number == 1  # restart, same file
    path.write_text(GOOD_V2, encoding="utf-8")
    assert RuleBook(path, data).version.number == 2  # restart after an edit
    assert len((data / VERSIONS_FILE).read_text().splitlines()) == 2


def test_rulebook_refuses_to_start_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("targets: {}\n", encoding="utf-8")
    with pytest.raises(RulesError):
        RuleBook(path)
