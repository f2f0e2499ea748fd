"""Errors of the CKKS backend (all `SealdogError`s, each with a message a user can act on)."""

from __future__ import annotations

from sealdog.errors import CorruptDataError, InsecureParametersError, SealdogError


class CkksError(SealdogError):
    """Something went wrong in the CKKS backend."""


class CkksUnavailableError(CkksError):
    """TenSEAL (the `ckks` extra) is not installed."""


class CkksParameterError(InsecureParametersError):
    """A parameter set is malformed or below 128-bit security by the HE Standard's table."""


class CkksLevelsExhaustedError(CkksError):
    """A ciphertext has too few levels (moduli) left for the next operation."""


class CkksCorruptDataError(CorruptDataError):
    """Serialised CKKS data (a context, a ciphertext, a refresh message) is malformed."""
