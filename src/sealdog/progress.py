"""Progress of a long step, visible both on a terminal and when the output is piped.

On a terminal `Progress` draws a Rich bar (spinner, description, bar, count, elapsed time).
Anywhere else (a pipe, a file, CI) a bar would stay silent until the end, so it prints a
plain line instead when the step starts, every `interval` seconds while it runs (also when
nothing was counted: a long model fit still says it is alive), when it moves on to another
stage and when it ends; each plain line also goes to the `sealdog.progress` logger.

    with Progress("scoring", total=len(emails), console=err) as progress:
        client.score(..., progress=progress.advance)
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("sealdog.progress")

DEFAULT_INTERVAL = 5.0


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and its noun, singular or plural: "1 e-mail", "2,000 e-mails", "1 entry"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


class Progress:
    """A counted (or uncounted: `total=None`) step, as a context manager."""

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        console: Console | None = None,
        interval: float = DEFAULT_INTERVAL,
        rate: str | None = None,
    ) -> None:
        """`rate`: a unit ("e-mails") to show the throughput in (units per second)."""
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        self.console = console
        self.description = description
        self.total = total
        self.completed = 0
        self.interval = interval
        self.rate = rate
        self._lock = threading.Lock()
        self._started = 0.0
        self._bar: Any = None
        self._task: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def interactive(self) -> bool:
        return bool(self.console.is_terminal)

    # --- counting -----------------------------------------------------------------------

    def advance(self, n: int = 1) -> None:
        """Count `n` more units done (usable directly as a `progress=` callback)."""
        with self._lock:
            self.completed += n
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def update(self, completed: int, total: int | None = None) -> None:
        """Set the count (and the total): for callbacks that report `(done, total)`."""
        with self._lock:
            self.completed = completed
            if total is not None:
                self.total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, total=self.total)

    def set_total(self, total: int) -> None:
        """Set the total once it is known (a streamed input that has been read to its end),
        keeping the count."""
        with self._lock:
            self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def describe(self, description: str) -> None:
        """Change the description, keep the count (the next plain line shows it)."""
        with self._lock:
            self.description = description
        if self._bar is not None:
            self._bar.update(self._task, description=description)

    def stage(self, description: str, total: int | None = None) -> None:
        """Move on to another stage of the step: a new description, the count restarts."""
        with self._lock:
            untouched = self.completed == 0 and self.total is None
            self.description, self.total, self.completed = description, total, 0
        if self._bar is not None:
            if untouched:  # a heading that never counted anything: replaced
                self._bar.remove_task(self._task)
            else:  # a finished stage keeps its line
                self._bar.stop_task(self._task)
            self._task = self._bar.add_task(description, total=total)
        else:
            self._say(f"{description} ...")

    # --- context ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._started = time.perf_counter()
        if self.interactive:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                *([_rate_column(self.rate)] if self.rate else []),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total)
        else:
            self._say(f"{self.description} ...")
            self._ticker = threading.Thread(target=self._tick, name="sealdog-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if exc_type is None:
            self._say(self._line(done=True))

    # --- plain lines --------------------------------------------------------------------

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._say(self._line())

    def _line(self, *, done: bool = False) -> str:
        with self._lock:
            description, total, completed = self.description, self.total, self.completed
        elapsed = time.perf_counter() - self._started
        if total:
            count = f"{completed:,}/{total:,} ({100 * completed / total:.0f}%)"
        elif completed:
            count = f"{completed:,}"
        else:
            count = ""
        if self.rate and completed and elapsed > 0:
            count += f", {completed / elapsed:,.0f} {self.rate}/s"
        if done:
            return f"{description}: done{', ' + count if count else ''} in {elapsed:.1f} s"
        return f"{description}: {count + ', ' if count else ''}{elapsed:.0f} s"

    def _say(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        log.info(line)


def _rate_column(unit: str) -> Any:
    """A Rich column showing `completed / elapsed` in `unit`/s (Rich is imported lazily)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            elapsed = task.elapsed or 0.0
            if not task.completed or elapsed <= 0:
                return Text(f"- {unit}/s")
            return Text(f"{task.completed / elapsed:,.0f} {unit}/s")

    return RateColumn()
