"""The command line's one error contract (`sealdog.cli_errors`) and the help every command shows."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from sealdog import __version__
from sealdog.cli import app, demo_app
from sealdog.cli_errors import ExitStatus, exit_status_for, handles_errors
from sealdog.errors import CorruptDataError, KeyMismatchError, SealdogError

runner = CliRunner()


def test_exit_statuses_are_the_documented_numbers() -> None:
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0,
        "UNEXPECTED": 1,
        "BAD_INPUT": 2,
        "UNREACHABLE": 3,
        "REFUSED": 4,
        "DECRYPTION": 5,
        "AUDIT_FAILED": 6,
        "PARTIAL": 7,
    }
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for status in ExitStatus:
        assert f"| {int(status)} |" in section, status


def _every_error() -> list[tuple[Exception, ExitStatus]]:
    from sealdog.client.errors import (
        ApiError,
        AuditError,
        ClientError,
        DecryptionError,
        ServerUnreachableError,
        api_error,
    )
    from sealdog.client.keyfiles import KeyFileError
    from sealdog.data.enron import CorpusFormatError, CorpusNotFoundError
    from sealdog.data.fetch import FetchError
    from sealdog.experiments.cli import TorchMissingError
    from sealdog.mail.errors import (
        EmailTooLargeError,
        FeaturiserSpecError,
        MailError,
        MailSourceError,
    )
    from sealdog.trainer.training import TrainingError

    cases: list[tuple[Exception, ExitStatus]] = [
        (ServerUnreachableError("down"), ExitStatus.UNREACHABLE),
        (ApiError(500, "boom"), ExitStatus.REFUSED),
        (DecryptionError("wrong key"), ExitStatus.DECRYPTION),
        (AuditError("mismatch"), ExitStatus.AUDIT_FAILED),
        (ClientError("other"), ExitStatus.BAD_INPUT),
        (KeyMismatchError("not this key"), ExitStatus.BAD_INPUT),
        (CorruptDataError("bad"), ExitStatus.BAD_INPUT),
        (KeyFileError("chmod 600"), ExitStatus.BAD_INPUT),
        (CorpusNotFoundError("where"), ExitStatus.BAD_INPUT),
        (CorpusFormatError("what"), ExitStatus.BAD_INPUT),
        (FetchError("HTTP 404"), ExitStatus.BAD_INPUT),
        (TrainingError("one class"), ExitStatus.BAD_INPUT),
        (TorchMissingError("pip install"), ExitStatus.BAD_INPUT),
        (SealdogError("anything"), ExitStatus.BAD_INPUT),
        (MailError("mail"), ExitStatus.BAD_INPUT),
        (EmailTooLargeError("big"), ExitStatus.BAD_INPUT),
        (FeaturiserSpecError("spec"), ExitStatus.BAD_INPUT),
        (MailSourceError("unreadable"), ExitStatus.BAD_INPUT),
    ]
    # Every HTTP status the client maps to a class is a refusal.
    cases += [
        (api_error(status, "no"), ExitStatus.REFUSED)
        for status in (400, 401, 403, 404, 413, 422, 503)
    ]
    return cases


def test_each_error_class_maps_to_its_status() -> None:
    for exc, status in _every_error():
        assert exit_status_for(exc) is status, type(exc).__name__


def test_statuses_follow_the_class_not_its_name_elsewhere() -> None:
    from sealdog.client.errors import NotFoundError

    class ApiError(SealdogError):  # same name, not the client's class
        pass

    class Gone(NotFoundError):  # a subclass of a client class
        pass

    assert exit_status_for(ApiError("x")) is ExitStatus.BAD_INPUT
    assert exit_status_for(Gone(410, "gone")) is ExitStatus.REFUSED


def _raising(exc: BaseException) -> typer.Typer:
    one = typer.Typer(rich_markup_mode=None)

    @one.command()
    @handles_errors
    def boom() -> None:
        raise exc

    return one


@pytest.mark.parametrize(("exc", "status"), _every_error())
def test_a_command_reports_one_red_line_and_exits_with_the_status(
    exc: Exception, status: ExitStatus
) -> None:
    result = runner.invoke(_raising(exc), [], color=True)
    assert result.exit_code == status
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"error: {exc}" in lines[0] and "\x1b[31m" in lines[0]  # red


def test_an_unexpected_error_is_not_swallowed() -> None:
    result = runner.invoke(_raising(ZeroDivisionError("bug")), [])
    assert isinstance(result.exception, ZeroDivisionError)


def _tree() -> list[tuple[str, click.Command]]:
    """Every command and group of `sealdog`, with its full name."""
    out: list[tuple[str, click.Command]] = []

    def walk(name: str, cmd: click.Command) -> None:
        out.append((name, cmd))
        if isinstance(cmd, click.Group):
            for sub_name, sub in cmd.commands.items():
                walk(f"{name} {sub_name}", sub)

    walk("sealdog", typer.main.get_command(app))
    return out


def _wrapped_code() -> object:
    return handles_errors(lambda: None).__code__


def _typer_callbacks(typer_app: typer.Typer, name: str) -> list[tuple[str, object]]:
    found = [
        (f"{name} {c.name or c.callback.__name__}", c.callback)
        for c in typer_app.registered_commands
    ]
    if typer_app.registered_callback is not None and name != "sealdog":
        found.append((name, typer_app.registered_callback.callback))
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        found += _typer_callbacks(group.typer_instance, f"{name} {group.name}")
    return found


def test_every_command_follows_the_error_contract() -> None:
    callbacks = _typer_callbacks(app, "sealdog")
    names = {name for name, _ in callbacks}
    assert {
        "sealdog keygen",
        "sealdog train",
        "sealdog data fetch",
        "sealdog server run",
        "sealdog server token create",
        "sealdog experiments parity",
        "sealdog demo",
        "sealdog demo xor",
        "sealdog models list",
    } <= names
    unwrapped = [
        name for name, cb in callbacks if getattr(cb, "__code__", None) is not _wrapped_code()
    ]
    assert unwrapped == []


def test_help_keeps_square_brackets_and_shows_no_bool_metavar() -> None:
    for name, cmd in _tree():
        assert getattr(cmd, "rich_markup_mode", "missing") is None, name
        args = [*name.split()[1:], "--help"]
        result = runner.invoke(app, args, terminal_width=80)
        assert result.exit_code == 0, (name, result.output)
        assert "<bool>" not in result.output, name
    result = runner.invoke(app, ["server", "run", "--help"], terminal_width=80)
    assert "[env SEALDOG_PORT" in result.output and "Port ." not in result.output


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(flag: str) -> None:
    result = runner.invoke(app, [flag])
    assert result.exit_code == 0 and result.stdout.strip() == f"sealdog {__version__}"


def test_the_root_owns_the_demo_group() -> None:
    import sealdog.client.cli as client_cli
    import sealdog.xor.cli as xor_cli

    assert not hasattr(client_cli, "demo_app")
    assert "sealdog.client" not in Path(xor_cli.__file__).read_text()
    assert [c.name for c in demo_app.registered_commands] == ["xor"]
    assert demo_app.registered_callback is not None
    assert demo_app.registered_callback.callback.__wrapped__ is client_cli.demo.__wrapped__  # type: ignore[attr-defined]


def test_choice_enums_match_what_they_choose_from() -> None:
    from sealdog.crypto.vhe.params import PRESETS
    from sealdog.protocol import Role
    from sealdog.server.cli import LogLevel, TokenRole
    from sealdog.trainer.cli import FeatureMode, Learner
    from sealdog.trainer.training import LEARNERS
    from sealdog.xor.cli import Preset

    assert [r.value for r in TokenRole] == [r.value for r in Role]
    assert {p.value for p in Preset} == set(PRESETS)
    assert tuple(learner.value for learner in Learner) == LEARNERS
    assert {m.value for m in FeatureMode} == {"hashing", "vocabulary"}
    assert "trace" in {level.value for level in LogLevel}


def test_a_bad_choice_is_a_usage_error() -> None:
    for args in (
        ["server", "token", "create", "--role", "root"],
        ["demo", "--delivery", "carrier-pigeon"],
        ["train", "--mode", "magic"],
        ["demo", "xor", "--preset", "huge"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == ExitStatus.BAD_INPUT, args
        assert "Invalid value" in result.output, args


def test_require_same_key() -> None:
    from sealdog.client.cli import require_same_key

    require_same_key("ab" * 32, "ab" * 32, what="Model m", key=Path("k.json"))
    with pytest.raises(KeyMismatchError) as caught:
        require_same_key(
            "ab" * 32,
            "cd" * 32,
            what="Model m",
            key=Path("k.json"),
            consequence="its verdicts would not decrypt",
        )
    assert str(caught.value) == (
        f"Model m is sealed for key {'ab' * 8}..., not for k.json ({'cd' * 8}...): "
        "its verdicts would not decrypt."
    )
