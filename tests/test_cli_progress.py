"""`sealdog.progress`: long steps speak when the output is piped; counts read right."""

from __future__ import annotations

import io
import logging
import time

import pytest
from rich.console import Console

from sealdog.progress import Progress, count


def _piped() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200), buf


def test_piped_progress_prints_plain_lines_while_it_runs(caplog: pytest.LogCaptureFixture) -> None:
    console, buf = _piped()
    caplog.set_level(logging.INFO, logger="sealdog.progress")
    with Progress("scoring", total=4, console=console, interval=0.05) as progress:
        assert not progress.interactive
        progress.advance(3)
        time.sleep(0.3)  # a silent stretch: the ticker still reports
        progress.advance()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "scoring ..."
    assert any(line.startswith("scoring: 3/4 (75%), ") for line in lines)
    assert lines[-1].startswith("scoring: done, 4/4 (100%) in ")
    assert "\x1b" not in buf.getvalue()  # plain text, no bar
    assert [r.getMessage() for r in caplog.records] == lines  # and the same lines to the log


def test_stages_announce_themselves_and_uncounted_steps_still_tick() -> None:
    console, buf = _piped()
    with Progress("training", console=console, interval=0.05) as progress:
        progress.stage("training: parsing e-mails", 2)
        progress.advance(2)
        progress.stage("training: final fit", None)
        time.sleep(0.2)
    lines = buf.getvalue().splitlines()
    assert lines[:2] == ["training ...", "training: parsing e-mails ..."]
    assert "training: final fit ..." in lines
    assert any(line.startswith("training: final fit: ") and line.endswith(" s") for line in lines)
    assert lines[-1].startswith("training: final fit: done in ")


def test_update_and_describe_for_callbacks_with_totals() -> None:
    console, buf = _piped()
    with Progress("opening", console=console, interval=60) as progress:
        progress.update(5, 10)
        progress.describe("opening ciphertexts")
    assert buf.getvalue().splitlines()[-1].startswith("opening ciphertexts: done, 5/10 (50%) in ")


def test_no_done_line_after_an_error() -> None:
    console, buf = _piped()
    with pytest.raises(RuntimeError), Progress("sealing", console=console, interval=60):
        raise RuntimeError("boom")
    assert buf.getvalue().splitlines() == ["sealing ..."]


def test_on_a_terminal_it_draws_a_bar() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with Progress("scoring", total=2, console=console) as progress:
        assert progress.interactive
        progress.advance(2)
    assert "━" in buf.getvalue() and "2/2" in buf.getvalue()
    assert "done" not in buf.getvalue()


def test_count_gets_plurals_right() -> None:
    assert count(1, "e-mail") == "1 e-mail"
    assert count(0, "e-mail") == "0 e-mails"
    assert count(2000, "e-mail") == "2,000 e-mails"
    assert count(1, "entry", "entries") == "1 entry"
    assert count(3, "entry", "entries") == "3 entries"
