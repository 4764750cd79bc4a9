"""The ``ivr`` commands that work on the call store: ``purge``, ``users …``, ``db upgrade``.

Separate from :mod:`ivr.cli` because they share one thing — opening the deployment's store and saying in one line
what is wrong with it — and nothing with the call-path commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ivr.config import Settings
from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.store.repository import Store

users_app = typer.Typer(help="Supervisor console users.", no_args_is_help=True)
db_app = typer.Typer(help="The call store (IVR_DATABASE_URL).", no_args_is_help=True)
console = Console()


def _fail(exc: Exception) -> typer.Exit:
    """A known problem as one line on stderr (never wrapped: a person or a script reads it whole), exit 1."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def purge(
    older_than: Annotated[str, typer.Option(help="Delete calls that started longer ago: 30d, 12h, 2w, 90m.")] = "30d",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how many calls would be deleted.")] = False,
) -> None:
    """Delete stored calls (turns, transfers, call-backs, spoken summaries) older than the cutoff: the retention
    policy. Asks first, unless --yes."""
    from ivr.store.retention import cutoff, parse_age

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from exc
    moment = cutoff(age)
    with _store() as store:
        count = store.count_older(moment)
        when = f"started before {moment:%Y-%m-%d %H:%M} UTC"
        if dry_run or count == 0:
            console.print(f"{count} call(s) {when} {'would be' if dry_run else 'to'} purge(d); nothing deleted")
            return
        if not yes and not typer.confirm(f"Delete {count} call(s) {when}, for good?", default=False):
            raise typer.Exit(code=1)
        deleted = store.purge(moment)
        store.audit("cli", "calls.purge", older_than, {"before": moment.isoformat(), "deleted": deleted})
    console.print(f"purged {deleted} call(s) {when}")


def forget(
    number: Annotated[str, typer.Argument(help="The caller's phone number, e.g. +31612345678.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")] = False,
) -> None:
    """Erase one caller: every stored call from this number, with its turns, transfers, call-backs and spoken
    summaries. Their next call is a first call again. The number itself is never stored; it is only hashed here."""
    from ivr.callers import caller_key

    key = caller_key(number, Settings().auth_token)
    if key is None:
        raise typer.BadParameter(f"{number!r} is not a phone number", param_hint="NUMBER")
    with _store() as store:
        if not yes and not typer.confirm("Erase every stored call from this number, for good?", default=False):
            raise typer.Exit(code=1)
        deleted = store.forget_caller(key)
        # the audit log names the hash, never the number
        store.audit("cli", "caller.forget", key[:12], {"deleted": deleted})
    console.print(f"forgot the caller: {deleted} call(s) erased")


@contextlib.contextmanager
def _store() -> Iterator[Store]:
    """The deployment's store (IVR_DATABASE_URL), closed afterwards; a bad URL is one line."""
    from ivr.store.repository import Store

    settings = Settings()
    try:
        store = Store.open(settings.resolved_database_url, redact_kinds=settings.redact)
        try:
            yield store
        finally:
            store.close()
    except IvrError as exc:
        raise _fail(exc) from exc


def _password(prompt: str | bool) -> Any:
    """The password option: asked for twice, hidden, when not given (or set IVR_USER_PASSWORD)."""
    return typer.Option(
        prompt=prompt,
        hide_input=True,
        confirmation_prompt=True,
        envvar="IVR_USER_PASSWORD",
        show_default=False,
        help="At least 8 characters; asked for when not given (or set IVR_USER_PASSWORD).",
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the store's schema up to date (servers also do this at start-up; deploy pipelines may run it first)."""
    from sqlalchemy.engine import make_url

    from ivr.store.db import make_engine, upgrade

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    console.print(f"schema up to date: {make_url(settings.resolved_database_url).render_as_string(hide_password=True)}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="supervisor (may change rules) or viewer (may look).")] = "viewer",
    password: Annotated[str, _password(True)] = "",
) -> None:
    """Create a console user; the password is stored as an argon2 hash."""
    with _store() as store:
        user = store.add_user(username, password, role)
        store.audit("cli", "user.add", user.username, {"role": user.role})
    console.print(f"user {user.username} added ({user.role})")


@users_app.command("password")
def users_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[str, _password("New password")] = "",
) -> None:
    """Reset a console user's password."""
    with _store() as store:
        store.set_password(username, password)
        store.audit("cli", "user.password", username)
    console.print(f"password of {username} changed")


@users_app.command("role")
def users_role(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Argument(help="supervisor or viewer.")],
) -> None:
    """Change what a console user may do."""
    with _store() as store:
        store.set_role(username, role)
        store.audit("cli", "user.role", username, {"role": role})
    console.print(f"{username} is now a {role}")


@users_app.command("remove")
def users_remove(
    username: Annotated[str, typer.Argument(help="Login name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a console user (their entries in the audit log stay)."""
    if not yes and not typer.confirm(f"Remove console user {username}?", default=False):
        raise typer.Exit(code=1)
    with _store() as store:
        store.remove_user(username)
        store.audit("cli", "user.remove", username)
    console.print(f"user {username} removed")


@users_app.command("list")
def users_list() -> None:
    """Console users and their roles."""
    with _store() as store:
        for user in store.list_users():
            console.print(f"{user.username}\t{user.role}\t{user.created_at:%Y-%m-%d}")
