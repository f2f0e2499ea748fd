"""The other Paillier libraries bench/paillier_scoring.py measures against (issue 17) install
with the `bench` extra and compute the same sums as Sealdog's plaintext arithmetic.

CI installs the extra, so a release of sf-heu or pypaillier that stops installing, or whose
sum differs from the plaintext one, turns CI red instead of silently dropping an anchor from
the benchmark. Each anchor's setup decrypts its first e-mail's sum and asserts it equals
the plaintext sum; the test then runs the timed loop once and checks it covered every e-mail.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "paillier_scoring.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paillier_scoring_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("anchor", "distribution"), [("heu", "heu"), ("pypaillier", "paillier")])
def test_anchor_sums_equal_the_plaintext_sums(anchor: str, distribution: str) -> None:
    pytest.importorskip(distribution, reason="the `bench` extra is not installed")
    bench = _bench()
    rng = random.Random(17)
    weights = [rng.randrange(-(2**30), 2**30) for _ in range(64)]
    emails = [rng.sample(range(64), 12) for _ in range(5)]
    emails[0] += [emails[0][0]]  # a count-2 bucket is added twice, as the bench does
    run = getattr(bench, f"anchor_{anchor}")(weights, emails, 2048)  # pypaillier refuses less
    assert run is not None, f"{anchor} is importable but its anchor did not set up"
    assert run() == len(emails)
