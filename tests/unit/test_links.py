"""Agent-page links: only the link we signed, for that transfer, before it expires, opens the page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from ivr.transfer.links import sign_link, verify_link

SECRET = "twilio-auth-token-for-tests"
NOW = 1_700_000_000.0


def _parts(url: str) -> tuple[str, str, str]:
    """(transfer id from the path, exp, sig) as the agent-page route would read them."""
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path.rsplit("/", 1)[-1], query["exp"][0], query["sig"][0]


def test_signed_link_points_at_the_agent_page_of_the_transfer() -> None:
    url = sign_link("https://ivr.example.nl/", "tr_abc123", SECRET, ttl_s=900, now=NOW)

    split = urlsplit(url)
    assert (split.scheme, split.netloc, split.path) == ("https", "ivr.example.nl", "/agent/transfers/tr_abc123")
    assert parse_qs(split.query)["exp"] == [str(int(NOW) + 900)]


def test_link_we_signed_is_valid_until_it_expires() -> None:
    transfer_id, exp, sig = _parts(sign_link("https://ivr.example.nl", "tr_abc123", SECRET, ttl_s=900, now=NOW))

    assert verify_link(transfer_id, exp, sig, SECRET, now=NOW)
    assert verify_link(transfer_id, exp, sig, SECRET, now=NOW + 900)
    assert not verify_link(transfer_id, exp, sig, SECRET, now=NOW + 901)


def test_link_for_one_transfer_does_not_open_another() -> None:
    _, exp, sig = _parts(sign_link("https://ivr.example.nl", "tr_abc123", SECRET, ttl_s=900, now=NOW))

    assert not verify_link("tr_abc124", exp, sig, SECRET, now=NOW)


def test_extending_the_expiry_by_hand_invalidates_the_link() -> None:
    transfer_id, exp, sig = _parts(sign_link("https://ivr.example.nl", "tr_abc123", SECRET, ttl_s=900, now=NOW))

    assert not verify_link(transfer_id, str(int(exp) + 3600), sig, SECRET, now=NOW)


@pytest.mark.parametrize("tamper", [lambda s: s[:-1], lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"), lambda s: ""])
def test_tampered_signature_is_refused(tamper: Callable[[str], str]) -> None:
    transfer_id, exp, sig = _parts(sign_link("https://ivr.example.nl", "tr_abc123", SECRET, ttl_s=900, now=NOW))

    assert not verify_link(transfer_id, exp, tamper(sig), SECRET, now=NOW)


def test_link_signed_with_another_secret_is_refused() -> None:
    transfer_id, exp, sig = _parts(sign_link("https://ivr.example.nl", "tr_abc123", "old-token", ttl_s=900, now=NOW))

    assert not verify_link(transfer_id, exp, sig, SECRET, now=NOW)


@pytest.mark.parametrize(("exp", "sig"), [("soon", "abc"), ("-5", "abc"), ("1" * 40, "abc"), ("1700000900", "ß∂ƒ")])
def test_garbage_in_the_query_string_is_refused_without_an_error(exp: str, sig: str) -> None:
    assert not verify_link("tr_abc123", exp, sig, SECRET, now=NOW)


def test_expiry_may_be_passed_as_a_number() -> None:
    transfer_id, exp, sig = _parts(sign_link("https://ivr.example.nl", "tr_abc123", SECRET, ttl_s=60, now=NOW))

    assert verify_link(transfer_id, int(exp), sig, SECRET, now=NOW)


def test_link_without_lifetime_is_not_issued() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        sign_link("https://ivr.example.nl", "tr_abc123", SECRET, ttl_s=0)
