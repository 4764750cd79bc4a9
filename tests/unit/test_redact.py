"""Personal data is masked in transcripts; what agents need (order numbers, amounts, dates) stays readable."""

from __future__ import annotations

import pytest

from ivr.transfer.redact import is_valid_iban, passes_eleven_proof, passes_luhn, redact


# ── the checksums, on realistic numbers ──────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("iban", ["NL91ABNA0417164300", "NL20INGB0001234567", "NL18RABO0123459876", "BE68539007547034"])
def test_real_ibans_pass_mod_97(iban: str) -> None:
    assert is_valid_iban(iban)


@pytest.mark.parametrize("iban", ["NL92ABNA0417164300", "NL91ABNA0417164301", "NL91ABNA041716430", "XX00"])
def test_iban_look_alikes_fail_mod_97(iban: str) -> None:
    assert not is_valid_iban(iban)


def test_bsn_eleven_proof_accepts_valid_and_rejects_look_alikes() -> None:
    assert passes_eleven_proof("111222333")
    assert passes_eleven_proof("123456782")
    assert not passes_eleven_proof("123456789")
    assert not passes_eleven_proof("000000000")


def test_luhn_accepts_test_card_numbers_and_rejects_a_typo() -> None:
    assert passes_luhn("4111111111111111")
    assert passes_luhn("5555555555554444")
    assert not passes_luhn("4111111111111112")


# ── masking ───────────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mijn iban is NL91ABNA0417164300 graag", "mijn iban is [IBAN] graag"),
        ("NL91 ABNA 0417 1643 00 alstublieft", "[IBAN] alstublieft"),
        ("iban nl20ingb0001234567", "iban [IBAN]"),
        ("Belgische rekening BE68 5390 0754 7034.", "Belgische rekening [IBAN]."),
        ("bsn 111222333", "bsn [BSN]"),
        ("mijn burgerservicenummer is 123456782", "mijn burgerservicenummer is [BSN]"),
        ("bel me op 06-12345678", "bel me op [PHONE]"),
        ("06 1234 5678 of 020-1234567", "[PHONE] of [PHONE]"),
        ("+31 6 12345678", "[PHONE]"),
        ("0031612345678", "[PHONE]"),
        ("kantoor (020) 123 45 67", "kantoor [PHONE]"),
        ("Vlaams nummer +32 470 12 34 56", "Vlaams nummer [PHONE]"),
        ("mail naar jan.de.vries@example.nl aub", "mail naar [EMAIL] aub"),
        ("jan apenstaartje gmail punt com", "[EMAIL]"),
        ("my email is jan at gmail dot com", "my email is [EMAIL]"),
        ("kaart 4111 1111 1111 1111", "kaart [CARD]"),
        ("card 5555-5555-5555-4444 expires", "card [CARD] expires"),
        ("klantnummer 12345678", "klantnummer [NUMBER]"),
    ],
)
def test_personal_data_is_masked_with_a_label_the_agent_understands(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("NL92ABNA0417164300 klopt niet", "[NUMBER] klopt niet"),  # bad IBAN checksum: no [IBAN], still masked
        ("bsn 123456789", "bsn [NUMBER]"),  # fails the 11-proof
        ("kaart 4111111111111112", "kaart [NUMBER]"),  # fails Luhn
    ],
)
def test_checksum_look_alikes_are_not_labelled_as_such_but_still_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("nul zes een twee drie vier vijf zes zeven acht", "[PHONE]"),
        ("mijn bsn is een een een twee twee twee drie drie drie", "mijn bsn is [BSN]"),
        ("vier vijf euh een twee drie vier vijf", "[NUMBER]"),
        ("double four five six seven eight nine", "[NUMBER]"),
        ("oh four five six seven eight nine one", "oh [NUMBER]"),  # "oh" before a number is a sigh
    ],
)
def test_numbers_spoken_as_words_are_masked_like_written_ones(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "mijn bestelnummer is 4512",
        "bestelling 4512 en bestelling 123456",
        "vier vijf een twee",
        "een twee drie vier vijf zes",  # six spoken digits: an order number
        "four five one two",
        "bedrag 45,50 euro",
        "postcode 1234 AB, gebeld in 2024 om 10.30 uur",
        "I was at home all day",
        "C++ en a + b",
    ],
)
def test_what_agents_need_stays_readable(text: str) -> None:
    assert redact(text) == text


def test_dates_of_birth_are_masked_as_numbers() -> None:
    assert redact("geboren 12-03-1980") == "geboren [NUMBER]"


@pytest.mark.parametrize(
    "text",
    [
        "Beller: mijn iban is NL91ABNA0417164300 en bsn 111222333, bel 06-12345678",
        "nul zes een twee drie vier vijf zes zeven acht",
        "jan@example.nl",
    ],
)
def test_redacting_twice_changes_nothing(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
