"""Load benchmark of the Sealdog server over HTTP against in-process scoring of the same e-mails.

Starts `sealdog server run --workers 2 --scoring-processes 1` on 127.0.0.1
(sealdog.client.local_server.LocalServer; with the default lanes each worker also has one
heavy-lane process, which runs every batch over 64 KiB), uploads a sealed model (logistic
regression on Enron-Spam enron1, vocabulary featuriser, Paillier key of --key-bits), then
drives it with a bounded load: a fixed number of 64-e-mail batches from the held-out test
split, sent by several concurrent clients, while a probe polls /healthz. Prints e-mails/s,
p50/p99 request latency and errors next to the in-process throughput of the same batches
scored by the same code on both cores (a 2-process pool, no HTTP) measured in this run.

Last line: {"bench": "server_load", "http_eps": ..., "inproc_eps": ..., "p50_ms": ...,
"p99_ms": ..., "errors": ..., "healthz_max_ms": ...}. `--quick` finishes in under a minute
on a quiet machine. Full run: PYTHONPATH=src python bench/server_load.py
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from sealdog.client.local_server import LocalServer


def load_emails(
    test_per_class: int, train_per_class: int
) -> tuple[list[bytes], list[bytes], list[int], str]:
    """(test e-mails, train e-mails, train labels, source): the last e-mails of each class
    of enron1 are the test split, as in the original post."""
    try:
        from sealdog.data.enron import load_folder, locate_enron

        emails = load_folder(locate_enron(), "enron1")
    except Exception as exc:
        print(f"Enron-Spam not available ({exc}); using generated e-mails", file=sys.stderr)
        return _generated(test_per_class, train_per_class)
    by_label = {
        0: [e.raw for e in emails if e.label == 0],
        1: [e.raw for e in emails if e.label == 1],
    }
    test = by_label[0][-test_per_class:] + by_label[1][-test_per_class:]
    train, labels = [], []
    for label, raws in by_label.items():
        chosen = raws[:-test_per_class][:train_per_class]
        train += chosen
        labels += [label] * len(chosen)
    return test, train, labels, "enron1 (last e-mails of each class)"


def _generated(test_per_class: int, train_per_class: int):
    rng = np.random.default_rng(0)
    spam = ["free", "money", "viagra", "winner", "offer", "cheap", "click", "now", "limited"]
    ham = ["meeting", "report", "schedule", "attached", "project", "review", "team", "thanks"]
    common = ["the", "a", "to", "of", "and", "in", "for", "on", "with", "is", "this", "that"]

    def mail(words):
        body = " ".join(rng.choice(words + common, size=200))
        return f"Subject: {' '.join(rng.choice(words, size=4))}\n\n{body}\n".encode()

    test = [mail(ham) for _ in range(test_per_class)] + [mail(spam) for _ in range(test_per_class)]
    train = [mail(ham) for _ in range(train_per_class)] + [
        mail(spam) for _ in range(train_per_class)
    ]
    return test, train, [0] * train_per_class + [1] * train_per_class, "generated"


def build_model(train: list[bytes], labels: list[int], key_bits: int, max_terms: int):
    from sklearn.linear_model import LogisticRegression

    from sealdog.crypto.paillier import generate_keypair
    from sealdog.mail.featuriser import Featuriser, FeaturiserSpec, fit_vocabulary
    from sealdog.mail.message import email_parts
    from sealdog.sealed_model import seal_model
    from sealdog.trainer.corpus import rows_to_matrix

    probe = Featuriser(FeaturiserSpec(mode="vocabulary", vocabulary=("w:x",), ngram_max=1))
    terms = [probe.terms(email_parts(raw)) for raw in train]
    vocab = fit_vocabulary(terms, min_df=3, max_terms=max_terms)
    spec = FeaturiserSpec(mode="vocabulary", vocabulary=vocab, ngram_max=1)
    featuriser = Featuriser(spec)
    X = rows_to_matrix([featuriser.index_terms(t) for t in terms], featuriser.n_features)
    clf = LogisticRegression(C=1.0, max_iter=300).fit(X, labels)
    pk, _sk = generate_keypair(key_bits, insecure=key_bits < 2048)
    model = seal_model(
        pk,
        clf.coef_[0],
        float(clf.intercept_[0]),
        featuriser=spec.to_dict(),
        scale_bits=16,
        metadata={"bench": "server_load"},
    )
    return model.to_bytes(), key_bits


# --- in-process baseline ----------------------------------------------------------------
_model = None


def _init_inproc(data: bytes) -> None:
    global _model
    from sealdog.server.kinds.base import open_container
    from sealdog.server.kinds.registry import kind_for

    model = open_container(data)
    _model = kind_for(model.kind).load(model)


def _score_inproc(batch: list[bytes]) -> int:
    from sealdog.protocol import Mode
    from sealdog.server.kinds.base import EmailBatch, ScoringOptions

    assert _model is not None
    _model.score(EmailBatch(tuple(batch), max_email_bytes=1 << 20), ScoringOptions(Mode.VERDICT))
    return len(batch)


def inproc_throughput(model_bytes: bytes, batches: list[list[bytes]], processes: int) -> float:
    import multiprocessing

    with ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_inproc,
        initargs=(model_bytes,),
    ) as pool:
        list(pool.map(_score_inproc, batches[:processes]))  # warm up: load model, tables
        start = time.perf_counter()
        done = sum(pool.map(_score_inproc, batches))
        return done / (time.perf_counter() - start)


# --- HTTP -------------------------------------------------------------------------------
def owner_token(url: str, admin_token: str) -> str:
    """An owner token issued over HTTP with the local server's admin token."""
    r = httpx.post(
        url + "/v1/tokens",
        json={"role": "owner", "subject": "bench"},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=60,
    )
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


def http_load(
    model_bytes: bytes, batches: list[list[bytes]], *, workers: int, clients: int, demo: bool
) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="sealdog-bench-"))
    server = LocalServer(
        data_dir / "srv",
        insecure_demo=demo,
        workers=workers,
        scoring_processes=1,
        ready_timeout=180,
    )
    try:
        server.start()
        url = server.url
        headers = {"Authorization": f"Bearer {owner_token(url, server.admin_token)}"}
        with httpx.Client(base_url=url, timeout=300, headers=headers) as client:
            r = client.post("/v1/models", content=model_bytes)
            r.raise_for_status()
            model_id = r.json()["id"]
            bodies = [
                json.dumps({"emails": [{"base64": base64.b64encode(m).decode()} for m in batch]})
                for batch in batches
            ]

            # Warm up every worker's scoring process (model load + tables), not timed. Each
            # warm-up request opens its own connection, and they run concurrently, so the
            # kernel spreads them over all workers (one keep-alive connection would reach one).
            def warm(body: str) -> None:
                with httpx.Client(base_url=url, headers=client.headers, timeout=600) as fresh:
                    fresh.post(
                        f"/v1/models/{model_id}/score",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    ).raise_for_status()

            with ThreadPoolExecutor(4 * workers) as pool:
                list(pool.map(warm, bodies[: 4 * workers]))

            latencies: list[float] = []
            errors = 0
            health: list[float] = []
            stop = threading.Event()

            def probe() -> None:
                with httpx.Client(base_url=url, timeout=10) as p:
                    while not stop.is_set():
                        t = time.perf_counter()
                        ok = p.get("/healthz").status_code == 200
                        health.append((time.perf_counter() - t) if ok else float("inf"))
                        time.sleep(0.05)

            def send(body: str) -> None:
                nonlocal errors
                t = time.perf_counter()
                resp = client.post(
                    f"/v1/models/{model_id}/score",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                latencies.append(time.perf_counter() - t)
                if resp.status_code != 200:
                    errors += 1

            prober = threading.Thread(target=probe)
            prober.start()
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(send, bodies))
            elapsed = time.perf_counter() - start
            stop.set()
            prober.join()
        emails = sum(len(b) for b in batches)
        lat = sorted(latencies)
        return {
            "http_eps": emails / elapsed,
            "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))] * 1000,
            "errors": errors,
            "healthz_max_ms": max(health) * 1000 if health else float("nan"),
            "healthz_probes": len(health),
        }
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument(
        "--key-bits", type=int, default=None, help="Paillier key size (default 3072; quick 2048)"
    )
    parser.add_argument("--requests", type=int, default=None, help="64-e-mail batches to send")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    args = parser.parse_args()

    key_bits = args.key_bits or (2048 if args.quick else 3072)
    n_requests = args.requests or (24 if args.quick else 48)
    batch_size = 64
    test_per_class = 500 if not args.quick else 200
    train_per_class = 400 if args.quick else 1500
    t0 = time.perf_counter()
    test, train, labels, source = load_emails(test_per_class, train_per_class)
    model_bytes, _ = build_model(train, labels, key_bits, max_terms=4000 if args.quick else 20000)
    print(
        f"data: {source}; {len(train)} training e-mails, {len(test)} test e-mails; "
        f"{key_bits}-bit key; model {len(model_bytes) / 1e6:.1f} MB "
        f"(setup {time.perf_counter() - t0:.1f} s)"
    )
    batches = [
        [test[(i * batch_size + j) % len(test)] for j in range(batch_size)]
        for i in range(n_requests)
    ]

    inproc = inproc_throughput(model_bytes, batches, processes=os.cpu_count() or 2)
    http = http_load(
        model_bytes, batches, workers=args.workers, clients=args.clients, demo=key_bits < 2048
    )
    ratio = http["http_eps"] / inproc
    print(f"in-process (same code, {os.cpu_count()} processes, no HTTP): {inproc:8.1f} e-mails/s")
    print(
        f"HTTP ({args.workers} workers, {args.clients} clients, "
        f"{n_requests} x {batch_size} e-mails): "
        f"{http['http_eps']:8.1f} e-mails/s  = {ratio:.0%} of in-process (target >= 70%)"
    )
    print(
        f"request latency p50 {http['p50_ms']:.0f} ms, p99 {http['p99_ms']:.0f} ms; "
        f"errors {http['errors']}"
    )
    print(
        f"/healthz max {http['healthz_max_ms']:.1f} ms over {http['healthz_probes']} probes "
        "(target < 100 ms)"
    )
    print(
        json.dumps(
            {
                "bench": "server_load",
                "http_eps": round(http["http_eps"], 1),
                "inproc_eps": round(inproc, 1),
                "p50_ms": round(http["p50_ms"], 1),
                "p99_ms": round(http["p99_ms"], 1),
                "errors": http["errors"],
                "healthz_max_ms": round(http["healthz_max_ms"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
