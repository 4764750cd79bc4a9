"""Personal data stays out of logs and records."""

from __future__ import annotations


def mask_phone(number: str) -> str:
    """'+31612345678' → '+316******78': enough to recognise a repeat caller, not enough to call them."""
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 6:
        return "*" * len(number)
    keep_head = 3 if number.startswith("+") else 2
    head = number[: keep_head + 1] if number.startswith("+") else number[:keep_head]
    return head + "*" * (len(number) - len(head) - 2) + number[-2:]
