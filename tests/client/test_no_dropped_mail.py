"""`sealdog score` never drops mail (issue 13): against a real server process, an e-mail
the server would refuse is reported by its source name and the rest of the run is scored;
`--on-error stop` stops but still prints what was scored; non-mail input is flagged; an
oversized file is refused before any of it is uploaded."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from client_support import Artifacts, Live, run_cli, sample_paths

from sealdog.cli_errors import ExitStatus
from sealdog.client.errors import AuthenticationError, EmailTooLargeError, InvalidRequestError
from sealdog.client.http import OnError, RetryPolicy, SealdogClient

MIB = 1024 * 1024
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8


def _env(live: Live) -> dict[str, str]:
    return {"SEALDOG_URL": live.url, "SEALDOG_TOKEN": live.owner_token}


def _mbox(messages: list[bytes]) -> bytes:
    return b"".join(
        b"From sender@example.com Mon Nov 23 10:00:00 2026\n"
        + m.replace(b"\nFrom ", b"\n>From ")
        + b"\n"
        for m in messages
    )


def _big(size: int) -> bytes:
    line = b"A" * 76 + b"\n"
    return b"Subject: a large attachment\n\n" + line * (size // len(line) + 1)


def _score(live: Live, artifacts: Artifacts, *args: str) -> tuple[int, list[dict], str]:
    r = run_cli(
        "score",
        *args,
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--json",
        env=_env(live),
    )
    rows = json.loads(r.stdout) if r.stdout.strip() else []
    return r.returncode, rows, r.stderr.decode()


def test_an_oversized_message_in_an_mbox_is_named_and_the_rest_is_scored(
    tmp_path: Path, live: Live, artifacts: Artifacts
) -> None:
    """The issue's repro, scaled: 20 messages, #13 of them 2.7 MB (the server caps 1 MiB)."""
    good = [p.read_bytes() for p in sample_paths("ham", 10) + sample_paths("spam", 9)]
    box = tmp_path / "big.mbox"
    box.write_bytes(_mbox([*good[:12], _big(2700000), *good[12:]]))
    status, rows, err = _score(live, artifacts, str(box))
    assert status == ExitStatus.PARTIAL, err
    names = [row["message"] for row in rows]
    assert names == [f"{box}#{k}" for k in range(1, 21) if k != 13]  # every good one, in order
    assert f"not scored: {box}#13 is " in err and "not sent" in err
    assert "emails[" not in err
    assert "19 scored" in err and "1 e-mail refused" in err


def test_a_server_side_refusal_is_isolated_named_and_the_run_goes_on(
    tmp_path: Path, live: Live, artifacts: Artifacts
) -> None:
    """The client's own check is raised above the server's cap, so the server refuses the
    batch holding the big e-mail (413 naming emails[i]); the client narrows it down to
    that e-mail and scores the others of the batch."""
    good = [p.read_bytes() for p in sample_paths("ham", 10)]
    folder = tmp_path / "mail"
    folder.mkdir()
    for i, raw in enumerate(good):
        (folder / f"m{i:02}.eml").write_bytes(raw)
    (folder / "m04x.eml").write_bytes(_big(int(1.5 * MIB)))
    status, rows, err = _score(live, artifacts, str(folder), "--max-email-bytes", str(4 * MIB))
    assert status == ExitStatus.PARTIAL, err
    assert len(rows) == 10 and str(folder / "m04x.eml") not in {r["message"] for r in rows}
    assert f"not scored: {folder / 'm04x.eml'} is " in err
    assert "SEALDOG_MAX_EMAIL_BYTES" in err

    # --on-error stop: the run ends at the refused e-mail; what was scored is still printed.
    status, rows, err = _score(
        live, artifacts, str(folder), "--max-email-bytes", str(4 * MIB), "--on-error", "stop"
    )
    assert status == ExitStatus.PARTIAL, err
    assert 0 < len(rows) < 10 and "not sent" in err
    assert [r["message"] for r in rows] == [str(p) for p in sorted(folder.iterdir())][: len(rows)]


def test_on_error_stop_with_a_locally_refused_email_sends_nothing(
    tmp_path: Path, live: Live, artifacts: Artifacts
) -> None:
    ok = sample_paths("ham", 1)[0]
    big = tmp_path / "big.eml"
    big.write_bytes(_big(2 * MIB))
    status, rows, err = _score(live, artifacts, str(ok), str(big), "--on-error", "stop")
    assert status == ExitStatus.PARTIAL and rows == []
    assert f"not scored: {big}" in err and "1 e-mail not sent" in err


def test_non_mail_input_is_warned_about_and_flagged(
    tmp_path: Path, live: Live, artifacts: Artifacts
) -> None:
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "program").write_bytes(ELF)
    ok = sample_paths("spam", 1)[0]
    status, rows, err = _score(
        live, artifacts, str(ok), str(tmp_path / "empty.eml"), str(tmp_path / "program")
    )
    assert status == 0, err
    by_name = {row["message"]: row for row in rows}
    assert "flag" not in by_name[str(ok)]
    assert by_name[str(tmp_path / "empty.eml")]["flag"] == "empty"
    assert by_name[str(tmp_path / "program")]["flag"] == "not e-mail"
    assert f"warning: {tmp_path / 'program'} is not an e-mail" in err
    assert f"warning: {tmp_path / 'empty.eml'} is empty" in err
    assert "2 inputs flagged as not e-mail" in err


def test_a_30_mb_file_is_refused_before_any_byte_of_it_is_uploaded() -> None:
    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(len(request.content))
        emails = json.loads(request.content)["emails"]
        return httpx.Response(
            202,
            json={"model_id": "m", "delivery": "inbox", "count": len(emails), "inbox_entry": "1"},
        )

    transport = httpx.MockTransport(handler)
    with SealdogClient("http://sealdog.test", "t", transport=transport) as client:
        run = client.score_run(
            "m", [b"Subject: a\n\nhi", _big(30 * MIB), b"Subject: b\n\nho"], delivery="inbox"
        )
    assert run.scored == 2 and run.unsent == 0 and run.error is None
    assert [r.index for r in run.refused] == [1] and run.refused[0].name == "e-mail #2"
    assert isinstance(run.refused[0].error, EmailTooLargeError)
    assert sum(sent) < 10_000  # the 30 MB never left the machine


def _direct(emails: list[dict]) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model_id": "m",
            "delivery": "direct",
            "count": len(emails),
            "message_ids": [e.get("message_id") for e in emails],
            "verdicts": {"format": "other", "count": len(emails)},
        },
    )


def test_a_422_naming_an_email_is_isolated_and_a_422_about_the_request_stops() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        emails = json.loads(request.content)["emails"]
        for i, e in enumerate(emails):
            if e["message_id"] == "bad":
                detail = f"emails[{i}]: cannot parse this e-mail"
                problem = {"status": 422, "detail": detail, "item": "emails", "index": i}
                return httpx.Response(422, json=problem)
        return _direct(emails)

    from sealdog.client.http import Email

    emails = [Email(b"Subject: x\n\ny", f"m{i}") for i in range(9)]
    emails[5] = Email(b"Subject: x\n\ny", "bad")
    fast = RetryPolicy(attempts=1)
    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(handler), retry=fast
    ) as client:
        run = client.score_run("m", emails)
        assert run.scored == 8 and [r.name for r in run.refused] == ["bad"]
        assert run.refused[0].reason == "bad: cannot parse this e-mail"
        assert isinstance(run.refused[0].error, InvalidRequestError)
        assert client.batch_size == 256  # a bad e-mail teaches nothing about batch caps

    def whole(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"status": 422, "detail": "this is an xor model"})

    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(whole), retry=fast
    ) as client:
        run = client.score_run("m", emails)
    assert run.scored == 0 and run.refused == [] and run.unsent == 9
    assert isinstance(run.error, InvalidRequestError)


def test_a_run_level_error_keeps_what_was_scored_before_it() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 3:
            return httpx.Response(401, json={"status": 401, "detail": "token revoked"})
        return _direct(json.loads(request.content)["emails"])

    with SealdogClient(
        "http://sealdog.test",
        "t",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=1),
        batch_size=4,
    ) as client:
        run = client.score_run("m", [b"Subject: x\n\ny"] * 20, on_error=OnError.skip)
    assert run.scored == 8 and run.unsent == 12 and isinstance(run.error, AuthenticationError)


def test_the_async_client_isolates_a_bad_email_too() -> None:
    import asyncio

    from sealdog.client.http import AsyncSealdogClient, Email

    def handler(request: httpx.Request) -> httpx.Response:
        emails = json.loads(request.content)["emails"]
        for i, e in enumerate(emails):
            if e["message_id"] == "bad":
                return httpx.Response(
                    413,
                    json={
                        "status": 413,
                        "detail": f"emails[{i}] is too large",
                        "item": "emails",
                        "index": i,
                    },
                )
        return _direct(emails)

    emails = [Email(b"Subject: x\n\ny", f"m{i}") for i in range(30)]
    emails[17] = Email(b"Subject: x\n\ny", "bad")

    async def main() -> None:
        async with AsyncSealdogClient(
            "http://sealdog.test",
            "t",
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(attempts=1),
            batch_size=8,
            concurrency=3,
        ) as client:
            run = await client.score_run("m", emails)
        assert run.scored == 29 and [r.name for r in run.refused] == ["bad"]
        assert run.refused[0].reason == "bad is too large"
        ids = [i for r in run.results for i in r.message_ids]  # type: ignore[union-attr]
        assert ids == [e.message_id for e in emails if e.message_id != "bad"]

    asyncio.run(main())
