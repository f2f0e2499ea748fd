"""The plaintext momentum trainer over many seeds: how often it converges, with and without
the restart policy of `sealdog.xor.momentum` (the encrypted trainer makes the same decisions,
so this is what `sealdog demo xor` and bench/ckks_xor.py can expect, in milliseconds per seed).

Baseline (same run): the old policy, init scale 2.0, no restarts, cap 300 steps. Candidate:
the defaults of `MomentumConfig` (init scale 3.0, restart after 100 steps, cap 400). Prints
one line per policy and ends with one JSON line:
{"bench": "xor_restarts", "seeds": N, "converged": ..., "baseline_converged": ...,
"median_iterations": ..., "p95_iterations": ..., "max_iterations": ..., "mean_restarts": ...,
"max_restarts": ..., "baseline_median_iterations": ..., "p_10_of_10": ...,
"baseline_p_10_of_10": ...}. Full run: `python bench/xor_restarts.py --seeds 1000`
(about 2 min on a quiet 2-core machine); `--quick`: 200 seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import numpy as np

from sealdog.xor.momentum import MomentumConfig, Outcome, train_momentum

BASELINE = MomentumConfig(init_scale=2.0, max_iterations=300, max_restarts=0, restart_after=300)
CANDIDATE = MomentumConfig()


def measure(config: MomentumConfig, seeds: int) -> dict[str, float]:
    iterations, restarts, converged = [], [], 0
    start = time.perf_counter()
    for seed in range(seeds):
        result = train_momentum(replace(config, seed=seed))
        restarts.append(result.restarts)
        if result.outcome is Outcome.converged:
            converged += 1
            iterations.append(result.iterations)
    rate = converged / seeds
    return {
        "converged": converged,
        "median_iterations": float(statistics.median(iterations)),
        "p95_iterations": float(np.percentile(iterations, 95)),
        "max_iterations": max(iterations),
        "mean_restarts": round(statistics.fmean(restarts), 3),
        "max_restarts": max(restarts),
        "p_10_of_10": round(rate**10, 4),
        "ms_per_seed": round((time.perf_counter() - start) * 1000 / seeds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 seeds")
    args = parser.parse_args()
    seeds = 200 if args.quick else args.seeds
    base = measure(BASELINE, seeds)
    print(f"baseline (scale 2.0, no restarts, cap 300): {base}")
    cand = measure(CANDIDATE, seeds)
    print(f"restarts (scale 3.0, restart after 100, cap 400): {cand}")
    print(
        json.dumps(
            {
                "bench": "xor_restarts",
                "seeds": seeds,
                **{k: v for k, v in cand.items() if k != "ms_per_seed"},
                "baseline_converged": base["converged"],
                "baseline_median_iterations": base["median_iterations"],
                "baseline_p_10_of_10": base["p_10_of_10"],
                "median_iterations_vs_baseline": round(
                    cand["median_iterations"] / base["median_iterations"], 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
