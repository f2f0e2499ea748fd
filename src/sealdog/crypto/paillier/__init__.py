"""Paillier backend (phe + gmpy2): keys, fixed point, sealed linear models, blinding, packing.

See docs/paillier.md for parameters, the security argument and the wire formats.
"""

from sealdog.crypto.paillier.codec import (
    ciphertext_width,
    ciphertexts_from_json,
    ciphertexts_to_json,
    decode_ciphertexts,
    encode_ciphertexts,
)
from sealdog.crypto.paillier.encryption import Ciphertext, Ciphertexts, encrypt
from sealdog.crypto.paillier.fixed_point import DEFAULT_SCALE_BITS, FixedPoint, FixedPointError
from sealdog.crypto.paillier.keys import (
    DEFAULT_KEY_BITS,
    MIN_SECURE_BITS,
    EmptyPassphraseError,
    PassphraseRequiredError,
    PublicKey,
    SecretKey,
    WrongPassphraseError,
    generate_keypair,
    load_public_key,
    load_secret_key,
    save_public_key,
    save_secret_key,
)
from sealdog.crypto.paillier.linear import (
    DEFAULT_BLINDING_BITS,
    InvalidFeatureVectorError,
    LinearScorer,
    Openings,
    ScoreOverflowError,
    SealedLinear,
    seal_linear,
    seal_linear_with_openings,
)
from sealdog.crypto.paillier.randomiser import DJNRandomiser
from sealdog.crypto.paillier.verdicts import (
    BlindingFactor,
    EncryptedVerdicts,
    Mode,
    PackingError,
    PackingLayout,
    blinding_bits_for,
    decrypt_scores,
    decrypt_verdicts,
    verdict_of_score,
)
from sealdog.errors import CorruptDataError, InsecureParametersError, KeyMismatchError

__all__ = [
    "DEFAULT_BLINDING_BITS",
    "DEFAULT_KEY_BITS",
    "DEFAULT_SCALE_BITS",
    "MIN_SECURE_BITS",
    "BlindingFactor",
    "Ciphertext",
    "Ciphertexts",
    "CorruptDataError",
    "DJNRandomiser",
    "EmptyPassphraseError",
    "EncryptedVerdicts",
    "FixedPoint",
    "FixedPointError",
    "InsecureParametersError",
    "InvalidFeatureVectorError",
    "KeyMismatchError",
    "LinearScorer",
    "Mode",
    "Openings",
    "PackingError",
    "PackingLayout",
    "PassphraseRequiredError",
    "PublicKey",
    "ScoreOverflowError",
    "SealedLinear",
    "SecretKey",
    "WrongPassphraseError",
    "blinding_bits_for",
    "ciphertext_width",
    "ciphertexts_from_json",
    "ciphertexts_to_json",
    "decode_ciphertexts",
    "decrypt_scores",
    "decrypt_verdicts",
    "encode_ciphertexts",
    "encrypt",
    "generate_keypair",
    "load_public_key",
    "load_secret_key",
    "save_public_key",
    "save_secret_key",
    "seal_linear",
    "seal_linear_with_openings",
    "verdict_of_score",
]
