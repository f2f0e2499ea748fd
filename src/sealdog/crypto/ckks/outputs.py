"""Hardening of every CKKS ciphertext that leaves its evaluator, and its decryption.

A CKKS decryption is the value plus the evaluation's noise, and that noise is a function of
the secret key, of the ciphertexts' randomness and of what the evaluator did (here: which
weight ciphertexts the input bits selected). So before a ciphertext leaves the server (or the
trainer, when it shows predictions to the key holder) `harden` does three things:

1. re-randomise: add a fresh public-key encryption of zero, so the ciphertext's randomness is
   fresh and no longer a function of the weights' ciphertexts;
2. drop to the last level (`mod_switch`): a smaller answer, and nothing of the higher moduli;
3. flood: add independent Gaussian noise of standard deviation `FLOOD_SIGMA` = 2^-14
   (about 6.1e-5) to *every* slot (the key holder can decode all of them, not only slot 0),
   drawn from the operating system's CSPRNG.

What a decryption then reveals: the output plus Gaussian noise of width 2^-14 plus the
evaluation's own error. Measured on the XOR networks (tests/xor/test_xor_ckks.py): the
evaluation error is about 1e-5 (it is dominated by TenSEAL's rescaling, which rounds the
scale back to 2^40), the ciphertext noise proper is far below that, so the flooding is at
least a few times the whole evaluation error and about 2^16 times the encryption noise
(SEAL's fresh noise, width 3.2, sits near 2^-30 in slot units at scale 2^40). The precision
left: |decrypted - output| < 6 * 2^-14 + 1e-4 < 5e-4 with overwhelming probability, inside
the 1e-3 the XOR outputs promise. Flooding is statistical, not perfect: for two evaluations
whose noise differs by d in a slot, the distance between the flooded distributions is about
d / FLOOD_SIGMA per slot.
"""

from __future__ import annotations

import os
from typing import Any

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

FLOOD_SIGMA = 2.0**-14
OUTPUT_PRECISION = 5e-4


def harden(context: Any, vector: Any, random_bytes: RandomBytes = os.urandom) -> bytes:
    """Re-randomised, last-level, noise-flooded bytes of `vector` (see module doc).

    `context` is a public context (the server's, or the trainer's)."""
    fresh = vector + encrypt(context, 0.0)
    ciphertext = raw_ciphertext(fresh)
    seal_context = context.seal_context().data
    sealapi().Evaluator(seal_context).mod_switch_to_inplace(
        ciphertext, seal_context.last_parms_id()
    )
    add_to_every_slot(context, ciphertext, gaussian(slot_count(context), FLOOD_SIGMA, random_bytes))
    return raw_bytes(ciphertext)


def decrypt_hardened(private_context: Any, data: bytes) -> float:
    """Key holder: the value in slot 0 of a hardened ciphertext."""
    return decrypt_slots(private_context, raw_from_bytes(private_context, data))[0]
