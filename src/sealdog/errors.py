"""The root of Sealdog's exceptions: every error a user can act on derives from here."""

from __future__ import annotations


class SealdogError(Exception):
    """An error with a message meant for the person running Sealdog."""


class InsecureParametersError(SealdogError):
    """Parameters below the security floor, used without the explicit insecure flag."""


class CorruptDataError(SealdogError):
    """Serialised data (a key, a ciphertext, a sealed model) is malformed or tampered."""


class KeyMismatchError(SealdogError):
    """A key does not belong to the ciphertexts or model it was used with."""
