"""Deployment settings, read from ``IVR_*`` environment variables.

Settings are built by whoever starts the program (``create_app``, the CLI), never at import time, so tests can
construct as many differently-configured apps as they like in one process.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Language = Literal["nl", "en"]
RedactKind = Literal["iban", "bsn", "card", "phone", "email", "number"]
REDACT_KINDS: tuple[RedactKind, ...] = ("iban", "bsn", "card", "phone", "email", "number")

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_understanding_cache() -> Path:
    """``$XDG_CACHE_HOME/warmline/understanding`` (``~/.cache/…`` without it): trained models, rebuilt when lost."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "warmline" / "understanding"


#: The auth token of a fresh checkout: fine on a laptop, never in front of Twilio (start-up warns).
DEV_AUTH_TOKEN = "warmline-local-development-token"

#: Settings that no longer exist, and where their job went: a deployment that still sets one is told, not ignored.
RETIRED = {
    "IVR_TRANSFER_NUMBER": "where people answer is the `default` target of the rules file (IVR_RULES_FILE, or the "
    "console's Transfer rules); unset IVR_TRANSFER_NUMBER",
}


class Settings(BaseSettings):
    """Everything a deployment can change. Defaults give a working local demo."""

    model_config = SettingsConfigDict(env_prefix="IVR_", env_file=".env", extra="ignore")

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL Twilio uses to reach us; signatures are checked against it (mind proxies).",
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(DEV_AUTH_TOKEN),
        description="Twilio auth token: validates webhook signatures and keys the stream tokens.",
    )
    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        pattern=r"^AC[0-9a-fA-F]{32}$",
        description="Twilio account SID: with the auth token, calls the colleague's phone for a warm transfer.",
    )
    twilio_api_url: str = Field(
        default="https://api.twilio.com",
        description="Twilio's REST API (the simulator serves its own for tests and the demo).",
    )
    transfer_caller_id: str | None = Field(
        default=None,
        pattern=r"^\+[1-9][0-9]{6,14}$",
        description="The number a colleague sees when Warmline rings them (default: the service line's own number).",
    )
    agent_ring_s: int = Field(default=20, ge=5, le=120, description="How long a colleague's phone rings.")
    agent_accept_s: int = Field(
        default=6, ge=2, le=30, description="After the spoken summary: how long the colleague has to press 1."
    )
    vosk_model: Path | None = Field(default=None, description="Directory of a Vosk model; overrides the cache.")
    models_dir: Path | None = Field(default=None, description="Where `ivr models download` puts models.")
    language: Language = "nl"
    agent_language: Language | None = Field(
        default=None, description="Language of agent summaries (default: language)."
    )
    data_dir: Path = Path("data")
    grammars_dir: Path = REPO_ROOT / "grammars"
    audio_cache_dir: Path = REPO_ROOT / "audio" / "cache"
    understanding_cache_dir: Path | None = Field(
        default_factory=default_understanding_cache,
        description="Where trained understanding models are kept between starts (empty: train at every start).",
    )
    company_name: str = "Warmline Demo"
    rules_file: Path = Field(default=REPO_ROOT / "rules.yaml", description="Supervisors' transfer rules (YAML).")
    rules_poll_s: float = Field(default=2.0, gt=0, description="How often the rules file is checked for changes.")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for /ops/*, /metrics and /metrics.json (off without one)."
    )
    api_docs: bool = Field(default=False, description="Serve /docs and /openapi.json (for developers).")
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key signing the console's session cookies (default: generated once, kept in data_dir).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies whose X-Forwarded-For/-Proto are believed "
        "(comma-separated, e.g. 10.0.0.5,10.1.0.0/16); none by default",
    )
    session_max_age_s: int = Field(default=12 * 3600, ge=60, description="How long a console login lasts.")
    service_data: Path | None = Field(default=None, description="JSON file with orders and opening hours.")

    # Durable store
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the call store, e.g. postgresql+psycopg://user:pw@host/db "
        "(default: SQLite data_dir/warmline.db).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for live call state shared by several instances, e.g. redis://redis:6379/0 "
        "(default: none, live state in this process's memory). Needs a shared database (PostgreSQL).",
    )
    stream_claim_s: float = Field(
        default=15.0,
        ge=3.0,
        le=300.0,
        description="How long an instance's claim on a call's media stream lasts without a heartbeat (renewed every "
        "third of it); with Redis only.",
    )
    redact: Annotated[list[RedactKind], NoDecode] = Field(
        default_factory=lambda: list(REDACT_KINDS),
        description="Personal data masked before storage, comma-separated (IVR_REDACT=iban,bsn,phone; 'none').",
    )
    retention_days: float = Field(default=30, gt=0, description="Calls older than this are purged (hourly).")
    caller_memory: bool = Field(
        default=True,
        description="Recognise returning callers by a keyed hash of their number (off: every call is a first call).",
    )
    agent_assist: bool = Field(
        default=True,
        description="Once a colleague takes a transferred call, Warmline listens along (a <Start><Stream> copy of "
        "both sides) and keeps the agent page live: transcript, the caller's mood and suggestions (off: no fork).",
    )
    instance_heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How often this server tells the store it is alive; after 3 missed beats its live calls count "
        "as interrupted.",
    )

    # Speech timing
    endpoint_silence_ms: int = Field(
        default=700,
        ge=100,
        le=5000,
        description="Trailing silence ending a turn (with adaptive end of turn: when the words give no cue).",
    )
    end_of_turn: Literal["adaptive", "fixed"] = Field(
        default="adaptive",
        description="adaptive: what the caller said sets the silence that ends their turn (short after a complete "
        "answer, long after an unfinished sentence, never shorter than their own pauses); fixed: always "
        "IVR_ENDPOINT_SILENCE_MS.",
    )
    turn_end_short_ms: int = Field(
        default=250, ge=100, le=2000, description="Silence ending a turn that is a complete answer (adaptive)."
    )
    turn_end_long_ms: int = Field(
        default=1200, ge=100, le=5000, description="Silence ending a turn that stopped mid-sentence (adaptive)."
    )
    no_input_timeout_s: float = Field(default=7.0, ge=1.0, description="Silence after a prompt counted as no input.")
    max_utterance_s: float = Field(
        default=30.0, ge=3.0, le=120.0, description="A caller turn that never pauses is decided after this long."
    )
    stream_start_timeout_s: float = Field(
        default=10.0, gt=0, le=120.0, description="A media stream that sends no `start` within this is closed."
    )
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0, description="Mean word confidence below: unsure.")
    tts_rate: int = Field(default=165, ge=80, le=400)
    stream_token_ttl_s: int = Field(default=120, ge=5)
    playback_speed: float = Field(
        default=1.0, gt=0, le=20, description="Pace outbound audio N× real time (simulations and tests only)."
    )
    decode_workers: int = Field(default=2, ge=1, le=64)
    drain_timeout_s: float = Field(
        default=120.0,
        ge=0.0,
        le=86_400.0,
        description="On SIGTERM or POST /ops/drain: how long live calls may go on before they are handed over to "
        "another instance (their stream is closed cleanly) and this one exits",
    )
    max_calls: int = Field(
        default=48,
        ge=1,
        le=10_000,
        description="Calls this server takes at once (what the capacity benchmark held on 2 cores); one more is "
        "told it is busy and put straight through to a person",
    )
    recognizers: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Free-speech recognisers in the shared pool: callers talking at once beyond this wait a moment "
        "(their audio is buffered) rather than start a cold recogniser. 16 keeps 48 calls on 2 cores from "
        "waiting (bench/README.md); ~80 MB each once warm.",
    )
    warm_recognizers: int | None = Field(
        default=None,
        ge=0,
        le=256,
        description="Recognisers warmed up with speech at start-up, on every decode thread at once (default: "
        "all); /readyz waits for them.",
    )
    decode_beam: float | None = Field(
        default=None,
        ge=4.0,
        le=30.0,
        description="The recogniser's search beam (default: the model's own, often 10–13); narrower decodes faster "
        "and may recognise less — measure on your own recordings (ivr/speech/search.py).",
    )
    decode_max_active: int | None = Field(
        default=None,
        ge=200,
        le=20000,
        description="Most decoder states kept per frame (default: the model's own, often 3000–7000); fewer is faster.",
    )
    naive_decode: bool = Field(
        default=False,
        description="Benchmark baseline only: every frame to a fresh free-speech recogniser per call, no VAD gating.",
    )
    tts_cache: bool = Field(default=True, description="Benchmark baseline only when false: render every prompt anew.")

    @model_validator(mode="after")
    def _no_retired_settings(self) -> Settings:
        for name, instead in RETIRED.items():
            if name in os.environ:
                raise ValueError(f"{name} is no longer read: {instead}")
        return self

    @model_validator(mode="after")
    def _turn_end_holds_in_order(self) -> Settings:
        if not self.turn_end_short_ms <= self.endpoint_silence_ms <= self.turn_end_long_ms:
            raise ValueError(
                f"IVR_TURN_END_SHORT_MS ({self.turn_end_short_ms}) ≤ IVR_ENDPOINT_SILENCE_MS "
                f"({self.endpoint_silence_ms}) ≤ IVR_TURN_END_LONG_MS ({self.turn_end_long_ms}) must hold"
            )
        return self

    @model_validator(mode="after")
    def _shared_state_needs_a_shared_database(self) -> Settings:
        if self.redis_url and self.resolved_database_url.startswith("sqlite"):
            raise ValueError(
                "IVR_REDIS_URL is set but the database is SQLite: instances sharing live state need one shared "
                "database; set IVR_DATABASE_URL=postgresql+psycopg://…"
            )
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("IVR_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return self

    @field_validator("understanding_cache_dir", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("IVR_PUBLIC_URL must be an absolute http(s) URL, e.g. https://ivr.example.com")
        return value.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("redact", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        """``IVR_REDACT=iban,bsn`` or ``all`` / ``none``: a deployment lists what it masks before storage."""
        if isinstance(value, str):
            words = [word.strip().lower() for word in value.split(",") if word.strip()]
            if words == ["all"]:
                return list(REDACT_KINDS)
            return [] if words == ["none"] else words
        return value

    @property
    def stream_url(self) -> str:
        """The Media Streams WebSocket URL: ``wss://`` behind https, ``ws://`` for local http."""
        parts = urlsplit(self.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/twilio/media"

    @property
    def assist_stream_url(self) -> str:
        """The agent-assist fork's WebSocket URL (a one-way ``<Start><Stream>`` of both sides of the call)."""
        return self.stream_url.removesuffix("/twilio/media") + "/twilio/assist"

    def url(self, path: str) -> str:
        """An absolute public URL for one of our routes."""
        return f"{self.public_url}{path}"

    @property
    def auth_token(self) -> str:
        return self.twilio_auth_token.get_secret_value()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'warmline.db'}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or (self.data_dir / "models")


def settings_error_line(exc: ValidationError) -> str:
    """One line per bad setting, naming the environment variable, what is wrong with it and what it is for."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:
            lines.append(f"settings: {message}")
            continue
        name = loc[0]
        field = Settings.model_fields.get(name)
        variable = f"IVR_{name.upper()}"
        shown = os.environ.get(variable, error.get("input"))
        hint = f" ({field.description})" if field is not None and field.description else ""
        lines.append(f"{variable}={shown!r}: {message}{hint}")
    return "\n".join(lines)
