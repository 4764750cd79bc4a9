"""The company's own data behind the self-service answers: orders and opening hours.

:class:`ServiceData` is the seam a company replaces with its order system. The dialog engine calls only these
two methods, so it stays a pure function of its inputs plus this lookup. :class:`JsonServiceData` reads the
demo file
``grammars/service_data.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ivr.errors import ConfigError

#: The language whose text is used when a status is missing in the caller's language.
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Order:
    """One order as the caller may hear about it: its number and its status text per language."""

    number: str
    statuses: Mapping[str, str]

    def status(self, language: str) -> str:
        """The status in ``language``; the fallback language, or any, rather than nothing."""
        if language in self.statuses:
            return self.statuses[language]
        if FALLBACK_LANGUAGE in self.statuses:
            return self.statuses[FALLBACK_LANGUAGE]
        return next(iter(self.statuses.values()))


class ServiceData(Protocol):
    """What the dialog may ask the company's systems. Answer quickly: a caller is waiting."""

    def order(self, number: str) -> Order | None:
        """The order with this number (digits only), or None when there is none."""
        ...

    def opening_hours(self, language: str) -> str:
        """The opening hours as part of a sentence ("maandag tot vrijdag van 9 tot 17 uur")."""
        ...


# ── the demo implementation ───────────────────────────────────────────────────────────────────────────────
class _OrderFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(pattern=r"^[0-9]{1,20}$")
    status: dict[str, str] = Field(min_length=1)


class _ServiceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    opening_hours: dict[str, str] = Field(min_length=1)
    orders: list[_OrderFile] = Field(default_factory=list)

    @field_validator("orders")
    @classmethod
    def _unique_numbers(cls, value: list[_OrderFile]) -> list[_OrderFile]:
        numbers = [o.number for o in value]
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
        if duplicates:
            raise ValueError(f"order numbers listed twice: {duplicates}")
        return value


class JsonServiceData:
    """Orders and opening hours from a JSON file, read once at construction.

    Invalid files raise :class:`ConfigError` naming the file and the problem: at start-up, not mid-call.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the service data ({exc.strerror or exc})") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
        try:
            parsed = _ServiceFile.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}: {problems}") from exc
        self._hours = MappingProxyType(dict(parsed.opening_hours))
        self._orders = MappingProxyType(
            {o.number: Order(number=o.number, statuses=MappingProxyType(dict(o.status))) for o in parsed.orders}
        )

    def order(self, number: str) -> Order | None:
        return self._orders.get(number)

    def opening_hours(self, language: str) -> str:
        if language in self._hours:
            return self._hours[language]
        return self._hours.get(FALLBACK_LANGUAGE) or next(iter(self._hours.values()))

    @property
    def order_numbers(self) -> tuple[str, ...]:
        """The numbers on file (for demos and tests that need a real one)."""
        return tuple(self._orders)
