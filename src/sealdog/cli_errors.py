"""The command line's error contract: typed errors -> one red line on stderr and an exit status.

Every command of every group (client, trainer, data, xor, experiments, server, demo) is
wrapped in `handles_errors`. A `SealdogError` or a `MailError` (the e-mail package's errors,
deliberately not `SealdogError`s so that `sealdog.mail` imports nothing of Sealdog) becomes

    error: <its message>

in red on stderr, and the process exits with the status of the most specific class in
`exit_status_for`. Anything else is a bug: it is not caught, so its traceback shows.

This module imports no package of Sealdog beyond `sealdog.errors` and `sealdog.mail.errors`:
the statuses of the client's error classes are found by class name along the exception's
MRO, so `sealdog server ...` does not load the client and `sealdog score` does not load
FastAPI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import IntEnum
from typing import ParamSpec, TypeVar

import typer

from sealdog.errors import SealdogError
from sealdog.mail.errors import MailError

P = ParamSpec("P")
R = TypeVar("R")


class ExitStatus(IntEnum):
    """Exit statuses of every `sealdog` command (documented in the README, "Exit codes")."""

    OK = 0
    UNEXPECTED = 1
    """An unexpected error (a bug: the traceback is printed), or interrupted (Ctrl-C)."""
    BAD_INPUT = 2
    """Usage, a missing or unreadable file, corpus or dependency, a bad key file, a key that
    does not fit the model, a missing token, a failed download: every other Sealdog error."""
    UNREACHABLE = 3
    """The Sealdog server could not be reached."""
    REFUSED = 4
    """The Sealdog server refused the request (its problem+json message is printed)."""
    DECRYPTION = 5
    """Verdicts could not be decrypted with this secret key."""
    AUDIT_FAILED = 6
    """An audit check failed: the sealed model does not match."""
    PARTIAL = 7
    """`sealdog score`: some e-mails were not scored (refused, or not sent after
    `--on-error stop`); every other e-mail was, and is reported."""


# Statuses of the client's error classes, by class name: matched along an exception's MRO
# (most specific first) among classes defined in `sealdog.client`, so nothing here imports
# the client, and moving a class inside the client package keeps its status.
_STATUS_BY_CLIENT_CLASS: dict[str, ExitStatus] = {
    "ServerUnreachableError": ExitStatus.UNREACHABLE,
    "ApiError": ExitStatus.REFUSED,
    "DecryptionError": ExitStatus.DECRYPTION,
    "AuditError": ExitStatus.AUDIT_FAILED,
}


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The documented exit status of a Sealdog (or mail) error; BAD_INPUT unless listed."""
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("sealdog.client") and cls.__name__ in _STATUS_BY_CLIENT_CLASS:
            return _STATUS_BY_CLIENT_CLASS[cls.__name__]
    return ExitStatus.BAD_INPUT


USER_ERRORS: tuple[type[Exception], ...] = (SealdogError, MailError)
"""The exceptions that are a user's to act on: reported in one line, not as a traceback."""


def print_error(message: str) -> None:
    """The one red `error: ...` line on stderr."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: Sealdog and mail errors become one red line and their exit status."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            print_error(str(exc))
            raise typer.Exit(int(exit_status_for(exc))) from None

    return wrapper
