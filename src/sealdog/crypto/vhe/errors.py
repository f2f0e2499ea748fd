"""Errors of the integer-vector scheme, each with a message saying what to change."""

from __future__ import annotations

from sealdog.errors import CorruptDataError, KeyMismatchError, SealdogError


class VheError(SealdogError):
    """Base class of integer-vector HE errors."""


class VheParameterError(VheError):
    """Parameters are inconsistent or unknown."""


class NoiseBudgetExhausted(VheError):
    """An operation or decryption would exceed the noise budget or run out of modulus levels."""


class VheKeyMismatch(VheError, KeyMismatchError):
    """A ciphertext, evaluation key or secret key belongs to a different key."""


class VheShapeError(VheError):
    """Operand dimensions do not fit the operation."""


class VheCorruptData(VheError, CorruptDataError):
    """Serialised VHE data is malformed, from another version, or tampered."""
