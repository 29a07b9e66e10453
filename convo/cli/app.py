"""The ``convo`` command group: global options, the store, and errors.

Every command runs inside :class:`ConvoGroup`, which turns the errors a
script must be able to rely on into one line on stderr and an exit code:

====  =============================================================
code  meaning
====  =============================================================
0     success
1     a convo error (a broken rule, a bad file, a transport or store
      failure, no API key)
2     usage error (bad option or argument; click's own code)
3     not found (no such thread or turn)
4     conflict or locked (the thread moved, the thread already
      exists, the database stayed locked past the busy timeout)
5     integrity (``verify`` found a turn that no longer hashes to its id)
130   interrupted (Ctrl-C)
====  =============================================================

Set ``CONVO_DEBUG=1`` to get the traceback of an unexpected error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from convo.errors import (
    ConflictError,
    ConvoError,
    DatabaseLockedError,
    HashMismatchError,
    NotSendableError,
    ThreadExistsError,
    ThreadNotFoundError,
    TurnNotFoundError,
)

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_DB",
    "EXIT_CONFLICT",
    "EXIT_ERROR",
    "EXIT_INTEGRITY",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_USAGE",
    "App",
    "ConvoGroup",
    "db_url",
    "describe_error",
    "fail",
    "main",
    "pass_app",
]

DEFAULT_DB = "sqlite:///./convo.db"
DEFAULT_BUSY_TIMEOUT = 5.0

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_INTEGRITY = 5
EXIT_INTERRUPTED = 130

def db_url(value: str) -> str:
    """A database URL from what the user typed: a URL as is, a plain path
    as a SQLite file (``./my.db`` -> ``sqlite:///./my.db``)."""
    if "://" in value:
        return value
    return f"sqlite:///{value}"


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an error."""
    if isinstance(exc, NotSendableError):
        first = exc.violations[0]
        more = len(exc.violations) - 1
        return EXIT_ERROR, str(first) + (f" (and {more} more)" if more else "")
    if isinstance(exc, (ThreadNotFoundError, TurnNotFoundError)):
        code = EXIT_NOT_FOUND
    elif isinstance(exc, (ConflictError, ThreadExistsError, DatabaseLockedError)):
        code = EXIT_CONFLICT
    elif isinstance(exc, HashMismatchError):
        code = EXIT_INTEGRITY
    else:
        code = EXIT_ERROR
    text = " ".join(str(exc).split()) or type(exc).__name__
    return code, text


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


class App:
    """What every command gets: the database URL, the consoles, the store."""

    def __init__(self, db: str, busy_timeout: float) -> None:
        self.db = db
        self.busy_timeout = busy_timeout
        self.out = Console(highlight=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False)
        self._store: Any = None

    def store(self, url: str | None = None, *, read_only: bool = False) -> Any:
        """The ``Store`` on ``--db`` (opened once, closed when the command ends).

        Read commands pass ``read_only=True``: they never create a database,
        migrate one or write to it (``Store(url, read_only=True)``).
        """
        from convo.store import Store

        if url is not None and url != self.db:
            self.close()
            self.db = url
        if self._store is not None and not read_only and self._store.read_only:
            self.close()
        if self._store is None:
            self._store = Store(self.db, busy_timeout=self.busy_timeout, read_only=read_only)
        return self._store

    def database_missing(self) -> bool:
        """Whether ``--db`` names a SQLite file that does not exist (yet)."""
        from sqlalchemy import make_url

        try:
            url = make_url(self.db)
        except Exception:  # an unreadable URL: the store says so
            return False
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return False
        return not Path(database).exists()

    def close(self) -> None:
        """Release the store's connections."""
        store, self._store = self._store, None
        if store is not None:
            store.close()


pass_app = click.make_pass_decorator(App)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests)
        pass

F = TypeVar("F", bound=Callable[..., Any])


class ConvoGroup(click.Group):
    """A click group that reports convo errors as one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except ConvoError as exc:
            code, text = describe_error(exc)
            fail(text, code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`convo export ... | head`): stop quietly,
            # and keep Python from complaining when it flushes stdout at exit.
            _silence_stdout()
            raise click.exceptions.Exit(EXIT_ERROR) from None
        except OSError as exc:
            if os.environ.get("CONVO_DEBUG"):
                raise
            fail(" ".join(str(exc).split()) or type(exc).__name__)
        except Exception as exc:
            if os.environ.get("CONVO_DEBUG"):
                raise
            code, text = describe_error(exc)
            fail(f"{type(exc).__name__}: {text} (set CONVO_DEBUG=1 for the traceback)", code)


@click.group(cls=ConvoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="CONVO_DB",
    default=DEFAULT_DB,
    show_default=True,
    metavar="URL",
    help="Database URL or SQLite file path (env CONVO_DB).",
)
@click.option(
    "--busy-timeout",
    envvar="CONVO_BUSY_TIMEOUT",
    type=click.FloatRange(min=0),
    default=DEFAULT_BUSY_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a locked SQLite database (env CONVO_BUSY_TIMEOUT).",
)
@click.version_option(package_name="convo", prog_name="convo")
@click.pass_context
def main(ctx: click.Context, db: str, busy_timeout: float) -> None:
    """convo: keep Claude conversations correct, saved, forkable and replayable.

    Start with `convo demo` (offline, no API key).
    """
    app = App(db_url(db), busy_timeout)
    ctx.obj = app
    ctx.call_on_close(app.close)

