"""Hardening of every CKKS ciphertext that leaves its evaluator, and its decryption.

A CKKS decryption is the value plus the evaluation's noise, and that noise is a function of
the secret key, of the ciphertexts' randomness and of what the evaluator did (here: which
weight ciphertexts the input bits selected). Evaluation is deterministic, so a key holder
who has the sealed model can re-run it for every candidate input and compare its decryption
with what the server sent: without hardening that identifies the input every time (the
attack runs as a test). So before a ciphertext leaves the server (or the trainer, when it
shows predictions or final weights to the key holder) `harden` does three things:

1. re-randomise: add a fresh public-key encryption of zero, so the ciphertext's randomness is
   fresh and no longer a function of the weights' ciphertexts;
2. drop to the last level (`mod_switch`): a smaller answer, nothing of the higher moduli;
3. flood, with the OS CSPRNG: Gaussian noise of width `FLOOD_SIGMA` = 2^-10 (9.8e-4) in
   slot 0, the value's slot, and of width `OTHER_SLOTS_SIGMA` = 1 in the 4095 others. The
   other slots matter: TenSEAL replicates a scalar into every slot, and the key holder can
   decode all of them, so the same noise shows 4096 times.

Measured on the XOR networks (tests/xor/test_xor_ckks.py): fresh encryption noise is about
1.6e-6 per slot at scale 2^34; after an evaluation, the decryptions for two inputs with the
same output differ by about 2e-6 in slot 0 and 7e-6 (root mean square) in each other slot.
Flooded as above, the statistical distance between the two answers is about
|d_0| / (2 FLOOD_SIGMA) + ||d_rest|| / (2 OTHER_SLOTS_SIGMA), near 1e-3 per answer (the
test's attacker, right every time unhardened, is at chance); a key holder who sees the
same input evaluated n times gains about sqrt(n) times that. The precision left: slot 0 is
within 7e-3 (7 sigma) of the output; the other slots hold the output only to +-1 each.
Values up to 2^11 fit the last level of `standard`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sealdog.crypto.ckks.backend import sealapi
from sealdog.crypto.ckks.randomness import RandomBytes, gaussian
from sealdog.crypto.ckks.vectors import (
    add_to_every_slot,
    decrypt_slots,
    encrypt,
    raw_bytes,
    raw_ciphertext,
    raw_from_bytes,
    slot_count,
)

FLOOD_SIGMA = 2.0**-10
OTHER_SLOTS_SIGMA = 1.0
OUTPUT_PRECISION = 7 * FLOOD_SIGMA


def flooding_noise(slots: int, random_bytes: RandomBytes = os.urandom) -> np.ndarray:
    """Width FLOOD_SIGMA in slot 0, OTHER_SLOTS_SIGMA in the others."""
    noise = gaussian(slots, OTHER_SLOTS_SIGMA, random_bytes)
    noise[0] = gaussian(1, FLOOD_SIGMA, random_bytes)[0]
    return noise


def harden(context: Any, vector: Any, random_bytes: RandomBytes = os.urandom) -> bytes:
    """Re-randomised, last-level, noise-flooded bytes of `vector` (see module doc).

    `context` is a public context (the server's, or the trainer's)."""
    fresh = vector + encrypt(context, 0.0)
    ciphertext = raw_ciphertext(fresh)
    seal_context = context.seal_context().data
    sealapi().Evaluator(seal_context).mod_switch_to_inplace(
        ciphertext, seal_context.last_parms_id()
    )
    add_to_every_slot(context, ciphertext, flooding_noise(slot_count(context), random_bytes))
    return raw_bytes(ciphertext)


def decrypt_hardened(private_context: Any, data: bytes) -> float:
    """Key holder: the value in slot 0 of a hardened ciphertext."""
    return decrypt_slots(private_context, raw_from_bytes(private_context, data))[0]
