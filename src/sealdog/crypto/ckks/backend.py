"""The one lazy import of TenSEAL, so a Sealdog without the `ckks` extra still imports.

`tenseal()` returns the module or raises `CkksUnavailableError` saying how to install it;
`sealapi()` is TenSEAL's low-level binding of SEAL (used to read parameters back, count
levels and harden outputs).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from sealdog.crypto.ckks.errors import CkksUnavailableError

INSTALL_HINT = (
    "CKKS needs TenSEAL, which is not installed: pip install 'sealdog[ckks]' (tenseal>=0.3.18)"
)


def tenseal() -> Any:
    """The `tenseal` module (typed Any: TenSEAL ships no type information)."""
    try:
        import tenseal as ts
    except ImportError:
        raise CkksUnavailableError(INSTALL_HINT) from None
    module: ModuleType = ts
    return module


def sealapi() -> Any:
    """TenSEAL's binding of SEAL (`tenseal.sealapi`)."""
    tenseal()
    import tenseal.sealapi as sa

    module: ModuleType = sa
    return module


def available() -> bool:
    """Whether TenSEAL can be imported (for messages; code calls `tenseal()`)."""
    try:
        tenseal()
    except CkksUnavailableError:
        return False
    return True
