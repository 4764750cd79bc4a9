"""Test records shared by the registry, store and console tests."""

from __future__ import annotations

from ivr.call.record import TransferRecord


def minimal_transfer(call_sid: str, transfer_id: str | None = None, **values: object) -> TransferRecord:
    """A transfer with only what the model requires (to a target ``t`` by rule ``r``), plus ``values``."""
    return TransferRecord.model_validate(
        {
            "transfer_id": transfer_id or f"T-{call_sid}",
            "call_sid": call_sid,
            "language": "nl",
            "rule": "r",
            "reason": "",
            "code": "",
            "target_name": "t",
            "target": {},
            "priority": 0,
            **values,
        }
    )
