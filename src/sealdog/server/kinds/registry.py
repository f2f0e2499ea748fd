"""The kinds this server hosts, by the name a sealed-model manifest gives in `kind`.

A plain dict built from the kind modules: adding a scheme means one kind module and one
line here.
"""

from __future__ import annotations

from sealdog.server.kinds.base import Kind, ModelRejectedError
from sealdog.server.kinds.linear import LinearKind
from sealdog.server.kinds.xor import XorKind
from sealdog.server.kinds.xor_ckks import XorCkksKind

KINDS: dict[str, Kind] = {
    LinearKind.name: LinearKind(),
    XorKind.name: XorKind(),
    XorCkksKind.name: XorCkksKind(),
}


def kind_for(name: str) -> Kind:
    """The kind named `name`; ModelRejectedError (listing the hosted kinds) if unknown."""
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise ModelRejectedError(
            f"unknown model kind {name!r} (this server hosts: {known})"
        ) from None
