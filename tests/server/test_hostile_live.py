"""The hostile-mail corpus (tests/mail/hostile_corpus.py) through a live server.

`sealdog server run --workers 2` on 127.0.0.1. Every construction is sent at the server's
per-e-mail cap (1 MiB) and 10x past it, one request each, two clients at a time, while a
third client probes /healthz. Every request is answered (scored, with the e-mail flagged
`truncated` where a parsing cap cut it, or refused with a 413 past the byte cap), never a
5xx or a hang, and /healthz stays fast throughout.
"""

from __future__ import annotations

import base64
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import httpx
from server_testkit import HealthProbe, Keys, UvicornProcess, bearer, cli_token, seal

CAP = 1024 * 1024  # the server's default SEALDOG_MAX_EMAIL_BYTES


def _corpus() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "mail" / "hostile_corpus.py"
    spec = importlib.util.spec_from_file_location("hostile_corpus_live", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_hostile_email_is_answered_and_healthz_stays_fast(tmp_path: Path, keys: Keys) -> None:
    corpus = _corpus()
    data_dir = tmp_path / "data"
    owner = bearer(cli_token(data_dir, "--role", "owner", "--subject", "alice"))
    proc = UvicornProcess(data_dir, workers=2)
    try:
        with httpx.Client(base_url=proc.url, timeout=120) as client:
            r = client.post("/v1/models", content=seal(keys).to_bytes(), headers=owner)
            assert r.status_code in (200, 201), r.text
            url = f"/v1/models/{r.json()['id']}/score"

            cases = []
            for name, build in corpus.CONSTRUCTIONS.items():
                at_cap = build(CAP)[:CAP]  # at most the cap: the server must read it
                cases += [(name, "at cap", at_cap), (name, "10x", build(10 * CAP))]

            def send(case: tuple[str, str, bytes]) -> tuple[str, str, int, list[int]]:
                name, size, raw = case
                encoded = base64.b64encode(raw).decode()  # bytes as they are (raw text is UTF-8)
                body = {"emails": [{"base64": encoded, "message_id": name}]}
                answer = client.post(url, json=body, headers=owner)
                truncated = answer.json().get("verdicts", {}).get("truncated", [])
                return name, size, answer.status_code, truncated

            with HealthProbe(proc.url) as probe, ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(send, cases))
    finally:
        proc.stop()

    for name, size, status, _ in answers:
        if size == "at cap":
            assert status == 200, (name, size, status)  # read (in part if need be), scored
        else:
            assert status == 413, (name, size, status)  # refused before any parser ran
    flagged = {name for name, size, status, truncated in answers if truncated == [0]}
    # Every construction that hits a parsing cap at 1 MiB is flagged; the three that fit
    # under every cap (one long line, NULs, a big attachment) are read whole, unflagged.
    assert flagged == set(corpus.CONSTRUCTIONS) - {"long_line", "nuls", "big_attachment"}
    assert probe.latencies, "the probe never ran"
    print(f"healthz under attack: n={len(probe.latencies)} max={max(probe.latencies):.3f} s")
    assert max(probe.latencies) < 1.0, max(probe.latencies)
