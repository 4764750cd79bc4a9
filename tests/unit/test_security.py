"""Stream tokens bind a media stream to the call we answered; signatures are Twilio's own algorithm."""

from __future__ import annotations

import pytest

from ivr.errors import StreamTokenError
from ivr.privacy import mask_phone
from ivr.telephony.security import SignatureChecker, StreamTokens


def test_a_token_issued_for_a_call_verifies_for_that_call() -> None:
    tokens = StreamTokens("secret", ttl_s=60)
    tokens.verify(tokens.issue("CA1", now=1000), "CA1", now=1010)


def test_a_token_for_another_call_is_refused() -> None:
    tokens = StreamTokens("secret", ttl_s=60)
    with pytest.raises(StreamTokenError, match="does not match"):
        tokens.verify(tokens.issue("CA1", now=1000), "CA2", now=1010)


def test_an_expired_token_is_refused() -> None:
    tokens = StreamTokens("secret", ttl_s=60)
    with pytest.raises(StreamTokenError, match="expired"):
        tokens.verify(tokens.issue("CA1", now=1000), "CA1", now=1061)


@pytest.mark.parametrize("token", [None, "", "garbage", "abc.def", "999999999999.forged"])
def test_missing_malformed_or_forged_tokens_are_refused(token: str | None) -> None:
    with pytest.raises(StreamTokenError):
        StreamTokens("secret", ttl_s=60).verify(token, "CA1", now=1000)


def test_a_token_made_with_another_secret_is_refused() -> None:
    forged = StreamTokens("not-our-secret", ttl_s=60).issue("CA1", now=1000)
    with pytest.raises(StreamTokenError):
        StreamTokens("secret", ttl_s=60).verify(forged, "CA1", now=1000)


def test_signatures_round_trip_and_reject_tampering() -> None:
    checker = SignatureChecker("token")
    params = {"CallSid": "CA1", "From": "+31612345678"}
    signature = checker.sign("https://ivr.example.com/twilio/voice", params)
    assert checker.is_valid("https://ivr.example.com/twilio/voice", params, signature)
    assert not checker.is_valid("https://ivr.example.com/twilio/voice", {**params, "From": "+31"}, signature)
    assert not checker.is_valid("https://evil.example.com/twilio/voice", params, signature)
    assert not checker.is_valid("https://ivr.example.com/twilio/voice", params, None)


def test_phone_numbers_are_masked_in_records() -> None:
    assert mask_phone("+31612345678") == "+316******78"
    assert mask_phone("") == ""
