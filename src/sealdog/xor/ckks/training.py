"""The data holder's half of encrypted XOR training on CKKS (no secret key on this side).

The data holder has the inputs and targets in plaintext and the weights only as
ciphertexts under the key holder's public key (the key holder chose the initial weights:
a trainer that knew them could replay the training and learn the final weights). It runs
the same computation as `sealdog.xor.momentum` on ciphertexts, and twice asks the key holder
for something, through a callable that takes and returns bytes (the transport):

- `refresh`: when the weights have too few levels left for a step, a masked refresh
  (`crypto.ckks.refresh`): the key holder sees only masked values;
- `judge`: each iteration it sends the four predictions, hardened (re-randomised and
  noise-flooded, `crypto.ckks.outputs.harden`), and gets back running/converged/diverged;
- `restart`: when the restart policy (`momentum.next_action`) says so, a fresh encrypted
  initial state for attempt k (the key holder draws it from sub-seed [seed, k]).

Coordinates: the trainer stores u = kappa W1 with kappa = cbrt(c3) (c3 the activation's cubic
coefficient, so kappa^3 = c3) instead of W1. With z' = kappa z the hidden unit is
h = z' (z'^2 + c1/kappa) + c0 and y = b + sum_j (w2_j z'_j)(z'_j^2 + c1/kappa) + c0 w2_j takes
two levels, not three; every gradient term takes one more: a step costs `LEVELS_PER_STEP`
= 3 levels (a refresh needs 1 more left), so the `standard` preset (4 levels) refreshes
before every step and `wide` (7) before every second. (Folding c3 into W2 instead also saves
the level, but W2 = a / c3 then multiplies CKKS's absolute noise by 1/|c3| ~ 225; kappa is
about -0.16, a factor of 6.) Updates are heavy-ball momentum with the learning rate folded
into constants (no extra level): v <- mu v + lr g, w <- w - v, the step for u scaled by
kappa, so that the trajectory in (W1, W2) is the plaintext one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sealdog.crypto.ckks import keys, vectors
from sealdog.crypto.ckks.outputs import harden
from sealdog.crypto.ckks.refresh import Refresher
from sealdog.xor.activation import fit_poly_sigmoid
from sealdog.xor.ckks import messages
from sealdog.xor.ckks.network import kappa, select_sum
from sealdog.xor.momentum import MomentumConfig, Outcome
from sealdog.xor.plaintext import INPUTS, TARGETS, check_inputs

LEVELS_PER_STEP = 3
LEVELS_TO_REFRESH = 1
STATE_ORDER = "u = kappa W1 (H x 3), w2 (H), b, then their velocities in the same order"
Transport = Callable[[bytes], bytes]


@dataclass
class _Weights:
    """Ciphertexts in the trainer's coordinates (see module doc)."""

    u: list[list[Any]]  # kappa W1, H rows of 3
    w2: list[Any]  # H
    b: Any

    def flat(self) -> list[Any]:
        return [c for row in self.u for c in row] + list(self.w2) + [self.b]

    @classmethod
    def unflat(cls, cts: Sequence[Any], hidden: int) -> _Weights:
        w1 = [list(cts[3 * j : 3 * j + 3]) for j in range(hidden)]
        return cls(w1, list(cts[3 * hidden : 4 * hidden]), cts[4 * hidden])


def state_size(hidden: int) -> int:
    """Ciphertexts in a training state: weights and velocities."""
    return 2 * (4 * hidden + 1)


class CkksXorTrainer:
    """The data holder: plaintext data, encrypted weights, the public context only."""

    def __init__(
        self,
        bundle: bytes,
        state: bytes,
        config: MomentumConfig,
        *,
        refresh: Transport,
        judge: Transport,
        restart: Transport | None = None,
        inputs: np.ndarray = INPUTS,
        targets: np.ndarray = TARGETS,
    ) -> None:
        self.context, self.params = keys.load_public(bundle)
        self.key_fingerprint = keys.fingerprint(bundle)
        self.config = config
        self.act = fit_poly_sigmoid(config.fit_range)
        self.kappa = kappa(self.act.c3)
        self.inputs = [(int(a), int(b)) for a, b in check_inputs(inputs)]
        self.targets = [float(t) for t in targets]
        if len(self.targets) != len(self.inputs):
            raise ValueError("one target per input row")
        self._refresh_transport = refresh
        self._judge_transport = judge
        self._restart_transport = restart
        self._refresher = Refresher(self.context, self.key_fingerprint)
        self._cache: tuple[list[Any], list[list[tuple[Any, Any]]]] | None = None
        self._load_state(state)
        self.refreshes = 0
        self.steps = 0
        self.restarts = 0

    def _load_state(self, state: bytes) -> None:
        header, blobs = messages.read(messages.STATE, state, key_fingerprint=self.key_fingerprint)
        hidden = header.get("hidden")
        if hidden != self.config.hidden or len(blobs) != state_size(self.config.hidden):
            raise ValueError("the initial state does not match the training configuration")
        cts = [vectors.from_bytes(self.context, blob) for blob in blobs]
        half = len(cts) // 2
        self.weights = _Weights.unflat(cts[:half], self.config.hidden)
        self.velocity = _Weights.unflat(cts[half:], self.config.hidden)
        self._cache = None

    def restart(self) -> None:
        """Ask the key holder for the next attempt's fresh state (the restart policy's)."""
        if self._restart_transport is None:
            raise ValueError("this trainer has no restart transport")
        request = messages.write(
            messages.RESTART,
            {"key_fingerprint": self.key_fingerprint, "attempt": self.restarts + 1},
        )
        self._load_state(self._restart_transport(request))
        self.restarts += 1

    # --- levels -------------------------------------------------------------------------

    def levels_left(self) -> int:
        return min(vectors.levels_left(c) for c in self.weights.flat() + self.velocity.flat())

    def refresh(self) -> None:
        """Masked refresh of every weight and velocity through the key holder."""
        cts = self.weights.flat() + self.velocity.flat()
        h = self.config.hidden
        scales = ([abs(self.kappa)] * (3 * h) + [1.0] * h + [1.0]) * 2
        request, pending = self._refresher.request(cts, scales)
        fresh = self._refresher.complete(pending, self._refresh_transport(request))
        half = len(fresh) // 2
        self.weights = _Weights.unflat(fresh[:half], h)
        self.velocity = _Weights.unflat(fresh[half:], h)
        self.refreshes += 1
        self._cache = None

    def _ensure_levels(self, needed: int) -> None:
        if self.levels_left() < needed + LEVELS_TO_REFRESH:
            self.refresh()

    # --- one iteration ------------------------------------------------------------------

    def _forward(self) -> tuple[list[Any], list[list[tuple[Any, Any]]]]:
        """y per input, and (z', z'^2 + c1/kappa) per input and hidden unit for the step."""
        c0, c1, k = self.act.c0, self.act.c1, self.kappa
        w = self.weights
        bias_terms = [w2 * c0 for w2 in w.w2]
        ys, cache = [], []
        for bits in self.inputs:
            y = w.b
            per_unit = []
            for row, w2, bias in zip(w.u, w.w2, bias_terms, strict=True):
                z = select_sum(row, bits)  # kappa z
                zz = z * z + c1 / k
                y = y + (w2 * z) * zz + bias  # w2 (z'^3 + (c1/kappa) z' + c0) = w2 h
                per_unit.append((z, zz))
            ys.append(y)
            cache.append(per_unit)
        return ys, cache

    def predictions(self) -> bytes:
        """The current weights' predictions on the training inputs, hardened, for the key
        holder (refreshing first if a step would not fit)."""
        self._ensure_levels(LEVELS_PER_STEP)
        ys, cache = self._forward()
        self._cache = (ys, cache)
        blobs = [harden(self.context, y) for y in ys]
        return messages.write(
            messages.PREDICTIONS, {"key_fingerprint": self.key_fingerprint}, blobs
        )

    def judge(self) -> Outcome:
        """Send the predictions, get the key holder's decision."""
        answer = self._judge_transport(self.predictions())
        header, _ = messages.read(messages.DECISION, answer, key_fingerprint=self.key_fingerprint)
        try:
            return Outcome(str(header.get("outcome")))
        except ValueError:
            raise ValueError("the key holder's decision is not a known outcome") from None

    def step(self) -> None:
        """One momentum step from the predictions computed last (`predictions`/`judge`)."""
        if self._cache is None:
            self._ensure_levels(LEVELS_PER_STEP)
            self._cache = self._forward()
        ys, cache = self._cache
        self._cache = None
        c0, c1, k = self.act.c0, self.act.c1, self.kappa
        lr, mu, h = self.config.learning_rate, self.config.momentum, self.config.hidden
        w, v = self.weights, self.velocity
        w2_3 = [w2 * (3 * k * k * lr) for w2 in w.w2]
        shift = c1 / k - c1 / (3 * k)  # zz - shift = z'^2 + c1 / (3 kappa)
        g1: list[list[Any]] = [[None] * 3 for _ in range(h)]
        g2: list[Any] = [None] * h
        gb: Any = None
        for bits, y, target, per_unit in zip(self.inputs, ys, self.targets, cache, strict=True):
            delta = y - target
            gb = delta if gb is None else gb + delta
            for j, (z, zz) in enumerate(per_unit):
                lr_h = (z * lr) * zz + lr * c0  # lr h
                term = delta * lr_h
                g2[j] = term if g2[j] is None else g2[j] + term
                # kappa lr w2 sigma'(z) = 3 kappa^2 lr w2 (z'^2 + c1 / (3 kappa))
                dz = delta * (w2_3[j] * (zz - shift))
                for col, bit in enumerate((*bits, 1)):
                    if bit:
                        g1[j][col] = dz if g1[j][col] is None else g1[j][col] + dz
        gb = gb * lr
        new_v = _Weights(
            [[_momentum(v.u[j][c], g1[j][c], mu) for c in range(3)] for j in range(h)],
            [_momentum(v.w2[j], g2[j], mu) for j in range(h)],
            _momentum(v.b, gb, mu),
        )
        self.weights = _Weights(
            [[w.u[j][c] - new_v.u[j][c] for c in range(3)] for j in range(h)],
            [w.w2[j] - new_v.w2[j] for j in range(h)],
            w.b - new_v.b,
        )
        self.velocity = new_v
        self.steps += 1

    def final_weights(self) -> bytes:
        """The weights for the key holder, W1 (u / kappa) and W2, each hardened."""
        self._ensure_levels(1)
        w = self.weights
        w1 = [c * (1.0 / self.kappa) for row in w.u for c in row]
        blobs = [harden(self.context, c) for c in [*w1, *w.w2, w.b]]
        header = {"key_fingerprint": self.key_fingerprint, "hidden": self.config.hidden}
        return messages.write(messages.FINAL, header, blobs)


def _momentum(velocity: Any, gradient: Any, mu: float) -> Any:
    """mu v + g (g None: no input selected this weight, the gradient is 0)."""
    scaled = velocity * mu
    return scaled if gradient is None else scaled + gradient
