"""What the console's routes share in one server process: settings, cookies, templates, the store's engine and the
understanding resources used to try sentences and replay calls. Built on first use and kept on ``app.state``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from ivr.admin.secret import session_secret
from ivr.admin.sessions import SessionCookies
from ivr.admin.throttle import LoginThrottle
from ivr.config import Settings
from ivr.deps import get_runtime
from ivr.evaluation import Understander
from ivr.rules.schema import RuleSet
from ivr.runtime import Runtime
from ivr.store.repository import Store
from ivr.web_security import safe_url

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass
class Console:
    settings: Settings
    cookies: SessionCookies
    templates: Jinja2Templates
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _store: Store | None = None
    _understander: Understander | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings) -> Console:
        secure = urlsplit(settings.public_url).scheme == "https"
        cookies = SessionCookies(session_secret(settings), settings.session_max_age_s, secure)
        templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
        templates.env.filters["safe_url"] = safe_url
        return cls(settings=settings, cookies=cookies, templates=templates)

    def store(self, runtime: Runtime) -> Store:
        """The store the server writes calls to; opened here only if the runtime has none (a console-only process)."""
        shared: Any = getattr(runtime, "store", None)
        if isinstance(shared, Store):
            return shared
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.settings.resolved_database_url, redact_kinds=self.settings.redact)
            return self._store

    def understander(self, rules: RuleSet) -> Understander:
        """Dialogs and lexicons as the server has them, judged under ``rules`` (the active set or a draft)."""
        with self._lock:
            if self._understander is None:
                self._understander = Understander.load(self.settings)
            return replace(self._understander, rules=rules)

    def grammars_changed(self) -> None:
        """An example phrase was added: rebuild the classifier the next time a sentence is tried."""
        with self._lock:
            self._understander = None


def get_console(request: Request) -> Console:
    console: Console | None = getattr(request.app.state, "console", None)
    if console is None:
        console = Console.build(request.app.state.settings)
        request.app.state.console = console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def store_of(console: ConsoleDep, runtime: RuntimeDep) -> Store:
    return console.store(runtime)


StoreDep = Annotated[Store, Depends(store_of)]


def engine_of(store: StoreDep) -> Engine:
    return store.engine


EngineDep = Annotated[Engine, Depends(engine_of)]
