"""Key-holder side HTTP calls for sealed XOR networks: deploy to a Sealdog server, score bits.

Plain httpx (the e-mail client in `sealdog.client` scores e-mails, not bit inputs). Error
answers raise `XorServerError` carrying the server's problem+json `detail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import httpx

from sealdog.errors import SealdogError
from sealdog.xor.sealed import SealedXor

DEFAULT_TIMEOUT = 120.0


class XorServerError(SealdogError):
    """The server refused a request (status and its problem detail in the message)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"server answered {status}: {detail}")
        self.status = status
        self.detail = detail


def _checked(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text
        raise XorServerError(response.status_code, detail)
    return response.json()  # type: ignore[no-any-return]


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def deploy_sealed_xor(base_url: str, token: str, sealed: SealedXor | bytes, *,
                      timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Upload a sealed XOR network with an owner token; returns the model's metadata."""
    data = sealed.to_bytes() if isinstance(sealed, SealedXor) else sealed
    response = httpx.post(
        f"{base_url.rstrip('/')}/v1/models", content=data, timeout=timeout,
        headers={**_headers(token), "Content-Type": "application/octet-stream"},
    )
    return _checked(response)


def score_xor_inputs(base_url: str, token: str, model_id: str, inputs: Sequence[Sequence[int]], *,
                     delivery: Literal["direct", "inbox"] = "direct",
                     timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Score plaintext bit pairs; the answer (direct) or the inbox acknowledgement.

    Decrypt a direct answer (or an inbox entry) with `outputs.decrypt_xor_outputs`."""
    response = httpx.post(
        f"{base_url.rstrip('/')}/v1/models/{model_id}/score", timeout=timeout, headers=_headers(token),
        json={"inputs": [list(row) for row in inputs], "delivery": delivery},
    )
    return _checked(response)
