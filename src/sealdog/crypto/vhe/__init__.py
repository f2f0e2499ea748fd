"""Integer-vector homomorphic encryption (Zhou & Wornell 2014), exact and modulo q.

Research/demo grade: products need key-switch matrices with ~(m+k)^2 * l columns, which
is affordable only for LWE dimensions k at which lattice reduction breaks the scheme.
See docs/vhe.md and `VheParams.security` for the estimate of each preset.
"""

from sealdog.crypto.vhe.errors import NoiseBudgetExhausted, VheCorruptData, VheError, VheKeyMismatch
from sealdog.crypto.vhe.keys import SecretKey, generate_secret_key
from sealdog.crypto.vhe.ops import (
    Ciphertext,
    LinearTransformKey,
    ProductKey,
    PublicKey,
    add,
    decrypt,
    encrypt,
    encrypt_public,
    inner_product,
    linear_transform,
    make_linear_transform_key,
    make_product_key,
    make_public_key,
    mul_int,
    rerandomise,
    sub,
)
from sealdog.crypto.vhe.params import PRESETS, VheParams, preset

__all__ = [
    "PRESETS",
    "Ciphertext",
    "LinearTransformKey",
    "NoiseBudgetExhausted",
    "ProductKey",
    "PublicKey",
    "SecretKey",
    "VheCorruptData",
    "VheError",
    "VheKeyMismatch",
    "VheParams",
    "add",
    "decrypt",
    "encrypt",
    "encrypt_public",
    "generate_secret_key",
    "inner_product",
    "linear_transform",
    "make_linear_transform_key",
    "make_product_key",
    "make_public_key",
    "mul_int",
    "preset",
    "rerandomise",
    "sub",
]
