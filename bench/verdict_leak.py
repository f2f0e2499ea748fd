"""Benchmark: what a malicious key holder learns from blinded verdicts (issue 14, item 5).

For each blinding setting (legacy = the weak pre-issue-14 form with no server caps, then
standard (default), wide, strongest) it runs, against the server's verdict path:
  (1) lying bound (issue 14's attack): weights 2^(36(i+1)) on W chosen words, declared bound
      256. The key holder reads each 36-bit block of the decrypted slot: a block holds r when
      the word is present. "words recovered" = mean over e-mails of (correct present/absent
      calls - those of the best guess without the verdict (all absent)) = true - false
      positives; 0 is chance. Also the ADAPTIVE liar, who reads the server's blinding width
      from the public layout and spaces the weights wider than it: no server cap can stop
      him (only an attested model can, issue 14 item 1).
  (2) honest bound, power-of-two weights: weights 2^(18i) on the k words that fit the cap
      (k = 4 at 64 bits), the e-mail's top word uniform over none/0..k-1. Bits per verdict =
      plug-in mutual information I(top word; sign and octave of t) with the Miller-Madow
      correction (the lower words move log2|s| by < 2^-17 octave, so the top word is what the
      magnitude carries); plus the MAP attacker's accuracy on held-out e-mails vs chance.
      The analytic bound for a log-uniform window of U octaves over a log-range L is
      log2(1 + L/(U+1)) bits.
  (3) statistical distance of t between s and 2s, 2^8 s, 2^17 s (octave histograms of t from
      the scoring function's BlindingFactor; the line prints the s-vs-s noise floor).
  (4) s = 0: the rate at which t proves s = 0 with certainty (t below the least value any
      s >= 1 can give: 3*min r for odd scores, min r for legacy), and issue 14's own test
      t < min r.
  (5) verdicts per ciphertext and e-mails/s (150-token e-mails, 2000-word model, one core)
      against the legacy setting measured in the same run.
The bulk runs the exact scoring function of the server's scoring processes
(`ScoringCaps.scorer(...).score_batch`); one pass per setting goes over HTTP to a live
server on loopback (`LocalServer`, SEALDOG_BLINDING=<setting>), and a last server runs with
SEALDOG_TRUSTED_AUDITORS / SEALDOG_REQUIRE_ATTESTATION to see whether the lying model is
refused. Ends with one JSON line.

    PYTHONPATH=src python bench/verdict_leak.py            # full: 2048-bit key, ~20 min
    PYTHONPATH=src python bench/verdict_leak.py --quick    # 1024-bit key, a few minutes
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np

from sealdog.client.http import Email, SealdogClient
from sealdog.client.local_server import LocalServer
from sealdog.crypto.paillier import (
    EncryptedVerdicts,
    PublicKey,
    SealedLinear,
    SecretKey,
    generate_keypair,
    seal_linear,
)
from sealdog.crypto.paillier.verdicts import Blinding, BlindingFactor, Mode, slot_values
from sealdog.protocol import Role
from sealdog.sealed_model import model_from_linear
from sealdog.server.kinds.linear import DEFAULT_MAX_SCORE_BOUND_BITS, ScoringCaps

SETTINGS = [Blinding.LEGACY, Blinding.STANDARD, Blinding.WIDE, Blinding.STRONGEST]
LYING_SPACING = 36  # issue 14: weights 2^(36(i+1)), declared bound 256 (lying_bound.SPACING)
HONEST_SPACING = 18  # issue 14: weights 2^(18i)
PRESENT_P = 0.25


def _lying_bound() -> ModuleType:
    """tests/server/lying_bound.py: the attack's model, e-mails and decoder, shared with the
    test that runs it through a live server."""
    path = Path(__file__).resolve().parents[1] / "tests" / "server" / "lying_bound.py"
    spec = importlib.util.spec_from_file_location("lying_bound", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_attack = _lying_bound()
spec_for = _attack.vocabulary_spec
email_with = _attack.email_bytes
read_blocks = _attack.read_blocks


def vector(words: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    idx = np.array(sorted(words), dtype=np.int64)
    return idx, np.ones(len(idx), dtype=np.int64)


# --- (1) lying bound ---------------------------------------------------------------------


def lying_model(pk: PublicKey, spacing: int, n_words: int) -> SealedLinear:
    """Weights 2^(spacing*(i+1)), declared bound 256: the key holder's lie."""
    sealed: SealedLinear = _attack.lying_sealed(pk, spacing, n_words)
    return sealed


def lying_words(bits: int, spacing: int, rho: int) -> int:
    """Words whose weights keep r*(2s+1) + r' below n: spacing*(W+1) + rho + 3 < bits - 2."""
    return max(1, min(80, (bits - 6 - rho) // spacing - 1))


def net_words(guess: set[int], truth: set[int]) -> int:
    """Correct present/absent calls minus those of the all-absent guess: TP - FP."""
    return len(guess & truth) - len(guess - truth)


def draw_words(rng: random.Random, n_words: int) -> set[int]:
    return {i for i in range(n_words) if rng.random() < PRESENT_P}


def lying_bulk(
    pk: PublicKey, sk: SecretKey, caps: ScoringCaps, bits: int, emails: int, *, adaptive: bool
) -> tuple[float, float, int]:
    """(mean words recovered, mean words present, W) through the scoring function."""
    probe = caps.scorer(lying_model(pk, LYING_SPACING, 1), Mode.VERDICT)
    rho = probe.layout.blinding_bits
    spacing = rho + 3 if adaptive else LYING_SPACING  # the adaptive liar reads rho from a header
    n_words = lying_words(bits, spacing, rho)
    scorer = caps.scorer(lying_model(pk, spacing, n_words), Mode.VERDICT)
    rng = random.Random(1)
    got, present = [], []
    for _ in range(emails):
        truth = draw_words(rng, n_words)
        ev = scorer.score_batch([vector(sorted(truth))])
        got.append(net_words(read_blocks(sk, ev, spacing, n_words), truth))
        present.append(len(truth))
    return float(np.mean(got)), float(np.mean(present)), n_words


def lying_http(
    server: LocalServer, sk: SecretKey, sealed: SealedLinear, n_words: int, emails: int
) -> float:
    """The issue's attack through a live server: upload the lying model, one e-mail per
    request (as a submitter would send it), read the blocks of each answer."""
    model = model_from_linear(sealed, featuriser=spec_for(n_words), metadata={"name": "liar"})
    with SealdogClient(server.url, server.admin_token, timeout=300) as admin:
        owner_token = admin.create_token(Role.owner, subject="key-holder")["token"]
    rng = random.Random(2)
    got = []
    with SealdogClient(server.url, owner_token, timeout=300) as owner:
        info = owner.deploy(model)
        for k in range(emails):
            truth = draw_words(rng, n_words)
            (result,) = owner.score(info.id, [Email(email_with(sorted(truth), k))])
            ev = result.verdicts  # type: ignore[union-attr]
            assert isinstance(ev, EncryptedVerdicts)
            got.append(net_words(read_blocks(sk, ev, LYING_SPACING, n_words), truth))
    return float(np.mean(got))


# --- (2) honest bound: mutual information ------------------------------------------------


def entropy(counts: Counter[object], total: int) -> float:
    """Plug-in entropy in bits plus the Miller-Madow correction (occupied bins - 1)/(2N ln 2)."""
    h = -sum(c / total * math.log2(c / total) for c in counts.values())
    return h + (len(counts) - 1) / (2 * total * math.log(2))


def mutual_information(pairs: Sequence[tuple[object, object]]) -> float:
    total = len(pairs)
    hx = entropy(Counter(x for x, _ in pairs), total)
    hy = entropy(Counter(y for _, y in pairs), total)
    hxy = entropy(Counter(pairs), total)
    return max(0.0, hx + hy - hxy)


def view(t: int) -> tuple[int, int]:
    """What the attacker keeps of t: its sign and octave (the mantissa is ~uniform)."""
    return (1 if t > 0 else -1 if t < 0 else 0), abs(t).bit_length()


def honest_bulk(
    pk: PublicKey, sk: SecretKey, caps: ScoringCaps, samples: int
) -> tuple[float, float, float, int]:
    """(bits per verdict, MAP accuracy on held-out half, chance, k)."""
    k = (caps.max_score_bound_bits - 1) // HONEST_SPACING + 1
    weights = np.array([float(1 << (HONEST_SPACING * i)) for i in range(k)])
    sealed = seal_linear(pk, weights, 0.0, scale_bits=0)
    scorer = caps.scorer(sealed, Mode.VERDICT)
    rng = random.Random(3)
    tops, vectors = [], []
    for _ in range(samples):
        top = rng.randrange(-1, k)  # -1: no chosen word present
        words = [] if top < 0 else [top] + [i for i in range(top) if rng.random() < 0.5]
        tops.append(top)
        vectors.append(vector(words))
    ts: list[int] = []
    for start in range(0, samples, 256):
        ts += slot_values(sk, scorer.score_batch(vectors[start : start + 256]))
    pairs = [(top, view(t)) for top, t in zip(tops, ts)]
    half = samples // 2
    table: dict[object, Counter[int]] = {}
    for top, y in pairs[:half]:
        table.setdefault(y, Counter())[top] += 1
    fallback = Counter(top for top, _ in pairs[:half]).most_common(1)[0][0]
    hits = sum(
        (table[y].most_common(1)[0][0] if y in table else fallback) == top
        for top, y in pairs[half:]
    )
    return mutual_information(pairs), hits / (samples - half), 1 / (k + 1), k


# --- (3) distances and (4) zero ----------------------------------------------------------


def tv_distance(a: Sequence[int], b: Sequence[int]) -> float:
    """Total variation between the octave histograms of two samples of t (> 0)."""
    ha = Counter(t.bit_length() for t in a)
    hb = Counter(t.bit_length() for t in b)
    return 0.5 * sum(abs(ha[k] / len(a) - hb[k] / len(b)) for k in set(ha) | set(hb))


def distances(caps: ScoringCaps, pk: PublicKey, samples: int) -> dict[str, float]:
    """Slot values of s, 2s, 2^8 s, 2^17 s from the scoring function's own BlindingFactor and
    layout, in plaintext (the encrypted path gives exactly these values: the property tests
    in tests/crypto/test_verdict_blinding.py), many samples cheaply."""
    scorer = caps.scorer(seal_linear(pk, np.array([1.0]), 0.0, scale_bits=0), Mode.VERDICT)
    layout = scorer.layout
    factor = BlindingFactor.for_layout(layout)
    s0 = (1 << 20) + 12345

    def draw(s: int, count: int) -> list[int]:
        out = []
        for _ in range(count):
            m, u, r_prime = factor.sample()
            r = m << u
            out.append(r * (2 * s + 1) + r_prime if layout.odd_scores else r * s + r_prime)
        return out

    base = draw(s0, samples)
    return {
        "d_s_2s": tv_distance(base, draw(2 * s0, samples)),
        "d_s_2e8s": tv_distance(base, draw(s0 << 8, samples)),
        "d_s_2e17s": tv_distance(base, draw(s0 << 17, samples)),
        "d_noise_floor": tv_distance(base, draw(s0, samples)),
    }


def zero_rates(pk: PublicKey, sk: SecretKey, caps: ScoringCaps, samples: int) -> dict[str, float]:
    """Empty e-mails (s = 0) through the scoring function: how often t proves s = 0."""
    sealed = seal_linear(pk, np.array([1.0, -1.0]), 0.0, scale_bits=0)
    scorer = caps.scorer(sealed, Mode.VERDICT)
    ts: list[int] = []
    for start in range(0, samples, 256):
        ts += slot_values(sk, scorer.score_batch([vector([])] * min(256, samples - start)))
    factor = BlindingFactor.for_layout(scorer.layout)
    min_r = 1 << (factor.mantissa_bits - 1)
    least_positive = 3 * min_r if scorer.layout.odd_scores else min_r  # smallest t of s = 1
    return {
        "zero_revealed_rate": sum(0 <= t < least_positive for t in ts) / samples,
        "zero_below_min_r_rate": sum(0 <= t < min_r for t in ts) / samples,
    }


# --- (5) throughput ----------------------------------------------------------------------


def throughput(pk: PublicKey, caps: ScoringCaps, emails: int) -> tuple[float, int]:
    rng = np.random.default_rng(5)
    dim = 2000
    sealed = seal_linear(pk, rng.normal(0, 0.5, dim), 0.1)
    scorer = caps.scorer(sealed, Mode.VERDICT)
    vectors = [vector(rng.choice(dim, 150, replace=False).tolist()) for _ in range(emails)]
    best = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        scorer.score_batch(vectors)
        best = max(best, emails / (time.perf_counter() - t0))
    return best, scorer.layout.slots


# --- servers -----------------------------------------------------------------------------


def start_server(work: Path, name: str, env: dict[str, str]) -> LocalServer:
    return LocalServer(work / name, insecure_demo=True, scoring_processes=1, extra_env=env).start()


def attested_lying_bound_refused(work: Path, sealed: SealedLinear, n_words: int) -> bool:
    """A server told to require attestation by a fresh auditor key: is the unattested lying
    model refused at upload or at scoring? (False while the server ignores the settings.)"""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    auditor = Ed25519PrivateKey.generate().public_key()
    key_file = work / "auditor.pub"
    key_file.write_bytes(
        auditor.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    env = {"SEALDOG_TRUSTED_AUDITORS": str(key_file), "SEALDOG_REQUIRE_ATTESTATION": "true"}
    model = model_from_linear(sealed, featuriser=spec_for(n_words), metadata={"name": "liar"})
    try:
        server = start_server(work, "attested", env)
    except Exception as exc:  # a server that refuses to start without more config
        print(f"attested server did not start: {exc}", file=sys.stderr)
        return False
    try:
        with SealdogClient(server.url, server.admin_token, timeout=300) as admin:
            token = admin.create_token(Role.owner, subject="key-holder")["token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300) as http:
            r = http.post(
                "/v1/models",
                content=model.to_bytes(),
                headers={"Content-Type": "application/octet-stream"},
            )
            if r.status_code >= 400:
                return True
            body = {"emails": [Email(email_with([0, 1], 0)).to_json()]}
            r = http.post(f"/v1/models/{r.json()['id']}/score", json=body)
            return r.status_code >= 400
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bits", type=int, default=None, help="key size (default 2048; 1024 quick)")
    ap.add_argument("--no-http", action="store_true", help="skip the live-server passes")
    args = ap.parse_args(argv)
    bits = args.bits or (1024 if args.quick else 2048)
    n_lying = 30 if args.quick else 200
    n_honest = 1500 if args.quick else 20000
    n_dist = 20000 if args.quick else 200000
    n_zero = 3000 if args.quick else 20000
    n_http = 8 if args.quick else 40
    n_eps = 128 if args.quick else 512
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    print(
        f"verdict_leak: {bits}-bit key, cap {DEFAULT_MAX_SCORE_BOUND_BITS} bits, quick={args.quick}"
    )
    pk, sk = generate_keypair(bits, insecure=bits < 2048)
    results: dict[str, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory(prefix="verdict-leak-") as tmp:
        work = Path(tmp)
        base_eps = 0.0
        for setting in SETTINGS:
            caps = ScoringCaps(DEFAULT_MAX_SCORE_BOUND_BITS, setting)
            t0 = time.perf_counter()
            lie, present, w = lying_bulk(pk, sk, caps, bits, n_lying, adaptive=False)
            adaptive, a_present, a_w = lying_bulk(pk, sk, caps, bits, n_lying, adaptive=True)
            mi, acc, chance, k = honest_bulk(pk, sk, caps, n_honest)
            dz = distances(caps, pk, n_dist) | zero_rates(pk, sk, caps, n_zero)
            eps, slots = throughput(pk, caps, n_eps)
            base_eps = base_eps or eps
            octaves = BlindingFactor.for_layout(
                caps.scorer(seal_linear(pk, np.array([1.0]), 0.0), Mode.VERDICT).layout
            ).octaves
            bound_range = (2 * ((1 << DEFAULT_MAX_SCORE_BOUND_BITS) - 1) + 1).bit_length()
            http_lie = None
            if not args.no_http:
                server = start_server(work, setting.value, {"SEALDOG_BLINDING": setting.value})
                try:
                    sealed = lying_model(pk, LYING_SPACING, w)
                    http_lie = lying_http(server, sk, sealed, w, n_http)
                finally:
                    server.stop()
            print(
                f"[{setting.value}] U={octaves} octaves, {slots} verdicts/ciphertext\n"
                f"  (1) lying bound (2^(36(i+1)) on {w} words, declared 256): words recovered "
                f"{lie:.2f} per e-mail (chance 0; {present:.2f} present)"
                + (f"; over HTTP {http_lie:.2f}" if http_lie is not None else "")
                + f"\n      adaptive liar (spacing rho+3, {a_w} words): {adaptive:.2f} recovered "
                f"of {a_present:.2f} present\n"
                f"  (2) honest bound (2^(18i) on {k} words): {mi:.3f} bits/verdict "
                f"(analytic bound log2(1+L/(U+1)) = "
                f"{math.log2(1 + bound_range / (octaves + 1)):.2f}); MAP top word "
                f"{acc:.3f} vs chance {chance:.3f}\n"
                f"  (3) distance s~2s {dz['d_s_2s']:.3f}, s~2^8s {dz['d_s_2e8s']:.3f}, "
                f"s~2^17s {dz['d_s_2e17s']:.3f} (noise floor {dz['d_noise_floor']:.3f})\n"
                f"  (4) s=0 proven {dz['zero_revealed_rate']:.4f} of verdicts "
                f"(issue 14's t < min r: {dz['zero_below_min_r_rate']:.4f})\n"
                f"  (5) {eps:.0f} e-mails/s, ratio to legacy {eps / base_eps:.2f} "
                f"[{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
            results[setting.value] = {
                "lying_bound_words_recovered": round(lie, 3),
                "lying_bound_words_recovered_http": None
                if http_lie is None
                else round(http_lie, 3),
                "adaptive_lying_words_recovered": round(adaptive, 3),
                "honest_bound_bits_per_verdict": round(mi, 3),
                "honest_bound_map_accuracy": round(acc, 3),
                "honest_bound_chance": round(chance, 3),
                "d_s_2s": round(dz["d_s_2s"], 3),
                "d_s_2e8s": round(dz["d_s_2e8s"], 3),
                "d_s_2e17s": round(dz["d_s_2e17s"], 3),
                "zero_revealed_rate": round(dz["zero_revealed_rate"], 4),
                "zero_below_min_r_rate": round(dz["zero_below_min_r_rate"], 4),
                "verdicts_per_ciphertext": slots,
                "eps": round(eps, 1),
                "eps_ratio_to_legacy": round(eps / base_eps, 3),
                "window_octaves": octaves,
            }
        refused = False
        if not args.no_http:
            w = lying_words(bits, LYING_SPACING, 40)
            refused = attested_lying_bound_refused(work, lying_model(pk, LYING_SPACING, w), w)
    print(
        json.dumps(
            {
                "bench": "verdict_leak",
                "bits": bits,
                "quick": args.quick,
                "settings": results,
                "attested_lying_bound_refused": refused,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
