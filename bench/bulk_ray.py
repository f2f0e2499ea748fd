"""Bulk scoring on Ray against the in-process scorer, on this machine, in one run.

A spam model (the trainer's default detector with 2^12 hashing buckets, trained on enron1's
first e-mails; generated mail without the corpus) is sealed under a Paillier key of
--key-bits. The e-mails it did not train on are written as .eml files into four folders
(four PATHs, so four readers), then scored:

- in process: the bulk worker's code (`sealdog.bulk.scorer.score_block`, the server's
  scorer) on one core, blocks of 256, no Ray: the baseline;
- `sealdog.bulk.job.run_bulk` on a local Ray with 1 and then 2 CPUs. `ray_eps` is the
  steady rate, after the first block came back (what an archive of millions converges to);
  `ray_eps_with_startup` counts the whole run, worker start-up and model loading included
  (`ray_startup_s`); Ray's own start (`ray.init`) is in neither.

Ratios (targets of issue 16): ray_eps["1"] / in-process >= 0.9, ray_eps["2"] / ray_eps["1"]
>= 1.7. Full run: `python bench/bulk_ray.py` (4,000 e-mails, 3072 bits); `--quick`: 1,000.
Last line: {"bench": "bulk_ray", "key_bits": ..., "emails": ..., "in_process_eps": ...,
"ray_eps": {"1": ..., "2": ...}, "ray_eps_with_startup": {...}, "ray_startup_s": {...},
"ray1_vs_in_process": ..., "ray2_vs_ray1": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def load_mail(n_train: int, n_score: int) -> tuple[list, list[bytes], str]:
    """(labelled training e-mails, e-mails to score, where they came from)."""
    try:
        from sealdog.data.enron import load_folder, locate_enron

        emails = load_folder(locate_enron(), "enron1")  # ham first, then spam
        ham = [e for e in emails if e.label == 0]
        spam = [e for e in emails if e.label == 1]
        half = n_train // 2
        rest = [e.raw for pair in zip(ham[half:], spam[half:]) for e in pair]  # both labels
        return ham[:half] + spam[:half], rest[:n_score], "enron1"
    except Exception as exc:
        print(f"Enron-Spam not available ({exc}); generated mail", file=sys.stderr)
    import random

    from sealdog.data.enron import LabelledEmail

    rng = random.Random(7)
    words = {
        0: ["meeting", "report", "budget", "schedule", "team"],
        1: ["free", "offer", "winner", "money"],
    }

    def mail(label: int) -> bytes:
        body = " ".join(rng.choice(words[label] + words[1 - label][:1]) for _ in range(120))
        return f"Subject: {rng.choice(words[label])}\n\n{body}\n".encode()

    train = [LabelledEmail("gen", f"{i}", i % 2, mail(i % 2)) for i in range(n_train)]
    return train, [mail(i % 2) for i in range(n_score)], "generated"


def sealed_model(train: list, key_bits: int) -> bytes:
    from sealdog.client.demo_model import seal_spam_model, train_spam_model
    from sealdog.crypto.paillier import generate_keypair

    model = train_spam_model(train, workers=1, n_buckets=2**12)
    pk, _ = generate_keypair(key_bits, insecure=key_bits < 2048)
    return seal_spam_model(model, pk).to_bytes()


def in_process_eps(model_bytes: bytes, raws: list[bytes], insecure: bool) -> float:
    from sealdog.bulk.scorer import load_for_bulk, score_block

    _, model = load_for_bulk(model_bytes, insecure=insecure)
    start = time.perf_counter()
    for i in range(0, len(raws), 256):
        block = raws[i : i + 256]
        score_block(model, [str(k) for k in range(len(block))], block, max_email_bytes=1 << 24)
    return len(raws) / (time.perf_counter() - start)


def ray_eps(
    model_bytes: bytes, folders: list[Path], cpus: int, insecure: bool
) -> tuple[float, float, float]:
    """(steady e-mails/s, whole-run e-mails/s, start-up seconds) on a local Ray of `cpus`."""
    import ray

    from sealdog.bulk.job import BulkOptions, run_bulk

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        out = Path(tempfile.mkdtemp(prefix="sealdog-bulk-bench-")) / "verdicts.parquet"
        options = BulkOptions(tuple(map(str, folders)), out, num_cpus=cpus, insecure=insecure)
        summary = run_bulk(model_bytes, options)
        shutil.rmtree(out.parent, ignore_errors=True)
        print(
            f"Ray, {cpus} CPU(s): {summary.emails_per_second:,.1f} e-mails/s over the whole run "
            f"({summary.seconds:.1f} s), {summary.steady_emails_per_second:,.1f} after the first "
            f"block ({summary.warmup_seconds:.1f} s of worker start-up and model loading)",
            file=sys.stderr,
        )
        return summary.steady_emails_per_second, summary.emails_per_second, summary.warmup_seconds
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 e-mails instead of 4,000")
    parser.add_argument("--key-bits", type=int, default=3072)
    parser.add_argument("--emails", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    n = args.emails or (1000 if args.quick else 4000)
    insecure = args.key_bits < 2048
    train, raws, source = load_mail(1000, n)
    model_bytes = sealed_model(train, args.key_bits)
    work = Path(tempfile.mkdtemp(prefix="sealdog-bulk-mail-"))
    folders = [work / f"box{k}" for k in range(4)]
    for k, folder in enumerate(folders):
        folder.mkdir()
        for i, raw in enumerate(raws[k::4]):
            (folder / f"{i:06d}.eml").write_bytes(raw)
    try:
        base = in_process_eps(model_bytes, raws, insecure)
        print(
            f"in process, 1 core: {base:,.1f} e-mails/s ({len(raws):,} {source})", file=sys.stderr
        )
        result, whole, warmup = {}, {}, {}
        for cpus in (1, 2):
            steady, overall, startup = ray_eps(model_bytes, folders, cpus, insecure)
            result[str(cpus)], whole[str(cpus)] = round(steady, 1), round(overall, 1)
            warmup[str(cpus)] = round(startup, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "bulk_ray",
                "key_bits": args.key_bits,
                "emails": len(raws),
                "in_process_eps": round(base, 1),
                "ray_eps": result,
                "ray_eps_with_startup": whole,
                "ray_startup_s": warmup,
                "ray1_vs_in_process": round(result["1"] / base, 3),
                "ray2_vs_ray1": round(result["2"] / result["1"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
