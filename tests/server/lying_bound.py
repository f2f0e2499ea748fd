"""The lying-bound attack of issue 14, shared by tests/server/test_verdict_caps.py and
bench/verdict_leak.py (which loads this file by path).

A malicious key holder seals weights 2^(spacing*(i+1)) for vocabulary words zqword0..W-1
but declares a score bound of 256. If the server sized the verdict slot from that
declaration, the score of one e-mail would spread over `spacing`-bit blocks, one per word it
contains, and `read_blocks` would read which words are in a submitter's mail from a single
verdict. The defence (slots sized from the server's cap, or a bound an auditor verified)
makes the blocks unreadable: the decoder then claims nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealdog.crypto.paillier import EncryptedVerdicts, PublicKey, SealedLinear, SecretKey
from sealdog.crypto.paillier.randomiser import DJNRandomiser
from sealdog.mail.featuriser import FeaturiserSpec

SPACING = 36  # issue 14: weights 2^(36(i+1))
DECLARED_BOUND = 256


def word(i: int) -> str:
    return f"zqword{i}"


def vocabulary_spec(n_words: int) -> dict[str, object]:
    """A vocabulary featuriser of exactly the words zqword0..n-1, counts clipped at 1."""
    return FeaturiserSpec(
        mode="vocabulary",
        vocabulary=tuple(f"w:{word(i)}" for i in range(n_words)),
        ngram_max=1,
        length_terms=False,
        max_count=1,
    ).to_dict()


def email_bytes(words: Sequence[int], k: int) -> bytes:
    """An e-mail containing the given words (and two words outside the vocabulary)."""
    body = " ".join([word(i) for i in words] + ["hello", "there"])
    return f"Subject: note {k}\n\n{body}\n".encode()


def lying_sealed(pk: PublicKey, spacing: int, n_words: int) -> SealedLinear:
    """Weights 2^(spacing*(i+1)) sealed by hand (seal_linear would compute the true bound),
    bias 0, declared bound 256: the key holder's lie."""
    djn = DJNRandomiser(pk)
    weights = [
        djn.encrypt_with(1 << (spacing * (i + 1)), djn.random_exponent()) for i in range(n_words)
    ]
    bias = djn.encrypt_with(0, djn.random_exponent())
    return SealedLinear(pk, weights, bias, 1, 1, DECLARED_BOUND)


def read_blocks(sk: SecretKey, ev: EncryptedVerdicts, spacing: int, n_words: int) -> set[int]:
    """The attacker's decoder for a one-e-mail answer: raw plaintext minus the public offset,
    blocks of `spacing` bits from bit `spacing`; the words are the non-zero blocks if they
    all hold the same value (r, or 2r for odd scores), else nothing (the prior's guess)."""
    n = int(sk.public_key.n)
    x = (int(sk.decrypt_raw(ev.ciphertexts[0])) - ev.layout.offset) % n
    if x > n // 2:
        x -= n
    if x < 0:
        return set()
    mask = (1 << spacing) - 1
    blocks = {i: (x >> (spacing * (i + 1))) & mask for i in range(n_words)}
    present = {i for i, b in blocks.items() if b}
    if len({blocks[i] for i in present}) != 1 or x >> (spacing * (n_words + 1)):
        return set()
    return present
