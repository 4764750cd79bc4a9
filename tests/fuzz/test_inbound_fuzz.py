"""Property-based tests of everything that reads input from outside: whatever arrives, the answer is a typed value
or the module's own error — never a crash, never unbounded work.

Hypothesis generates the inputs (structured JSON near the Media Streams protocol as well as arbitrary text), so the
parsers are tested on shapes nobody thought of writing by hand.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.rules.loader import RulesError, parse_rules
from ivr.telephony.protocol import Media, ProtocolError, parse_inbound
from ivr.transfer.redact import redact

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", "teleport"])


@st.composite
def near_frames(draw: st.DrawFn) -> str:
    """JSON shaped like Media Streams frames, with every field free to be wrong."""
    frame: dict[str, Any] = {"event": draw(events)}
    for key in draw(st.lists(st.sampled_from(["streamSid", "start", "media", "dtmf", "mark", "stop"]), max_size=4)):
        frame[key] = draw(json_values)
    if draw(st.booleans()):
        frame["media"] = {"payload": draw(st.text(max_size=400)), "track": draw(st.text(max_size=10))}
    return json.dumps(frame)


@FAST
@given(st.one_of(near_frames(), st.text(max_size=2000), st.binary(max_size=2000)))
def test_any_frame_is_parsed_or_refused_with_a_protocol_error(raw: str | bytes) -> None:
    try:
        frame = parse_inbound(raw)
    except ProtocolError:
        return
    if isinstance(frame, Media):
        try:
            audio = frame.audio()
        except ProtocolError:
            return
        assert len(audio) <= 8000


@FAST
@given(st.integers(min_value=1, max_value=50_000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_not_a_recursion_crash(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    with contextlib.suppress(ProtocolError):
        parse_inbound(opener * depth + "1" + closer * depth)


yaml_scalars = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none())
yaml_docs = st.recursive(
    yaml_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4),
    max_leaves=25,
)


@st.composite
def rules_texts(draw: st.DrawFn) -> str:
    """Rules-like documents (as a supervisor might get them wrong) and raw text, anchors and aliases included."""
    doc = {
        "timezone": draw(st.sampled_from(["Europe/Amsterdam", "Mars/Base", 3])),
        "targets": draw(yaml_docs),
        "rules": draw(st.lists(st.dictionaries(st.sampled_from(["name", "when", "target", "priority"]), yaml_docs))),
    }
    text = json.dumps(doc)  # JSON is YAML
    if draw(st.booleans()):
        text = draw(st.text(max_size=300)) + text
    if draw(st.booleans()):
        text += "\nx: &a [1, 2]\ny: *a\n"
    return text


@FAST
@given(st.one_of(rules_texts(), st.text(max_size=1000)))
def test_any_rules_text_is_accepted_or_refused_with_lines_quickly(text: str) -> None:
    started = time.perf_counter()
    try:
        parse_rules(text, "draft")
    except RulesError as exc:
        assert exc.problems and all(p.line >= 1 for p in exc.problems)
    assert time.perf_counter() - started < 2.0


def _iban_nl(bank: str, account: int) -> str:
    """A valid Dutch IBAN (mod-97 check digits) for a bank code and a 10-digit account number."""
    bban = f"{bank}{account:010d}"
    digits = "".join(str(int(c, 36)) for c in bban + "NL00")
    check = 98 - int(digits) % 97
    return f"NL{check:02d}{bban}"


def _bsn(prefix: int) -> str | None:
    """A number that passes the BSN eleven-test, or None."""
    digits = [int(d) for d in f"{prefix:08d}"]
    total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
    last = total % 11
    return None if last == 10 else f"{prefix:08d}{last}"


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Zs")), max_size=40)


@FAST
@given(
    words,
    words,
    st.sampled_from(["ABNA", "INGB", "RABO"]),
    st.integers(0, 9_999_999_999),
    st.integers(10**7, 10**8 - 1),
)
def test_redaction_hides_iban_and_bsn_anywhere_in_a_sentence_and_is_idempotent(
    before: str, after: str, bank: str, account: int, bsn_prefix: int
) -> None:
    iban = _iban_nl(bank, account)
    bsn = _bsn(bsn_prefix)
    text = f"{before} {iban} {after} {bsn or ''}"
    masked = redact(text)
    assert iban not in masked.replace(" ", "")
    if bsn is not None:
        assert bsn not in masked
    assert redact(masked) == masked
