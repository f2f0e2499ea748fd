"""One place per API route: the request it takes and the parser of its answer.

Pure functions, shared by the synchronous and the asynchronous client: each returns a
`Call` (what to send, whether resending it is safe, how to read the answer) and knows
nothing about sending. The two scoring routes are described by `BatchRoute`s: which body
field carries the items and which problem+json member names the server's batch cap.
"""

from __future__ import annotations

import base64
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import quote

from sealdog.client.errors import ClientError
from sealdog.client.http.models import (
    Email,
    InboxPage,
    ModelInfo,
    ScoreResult,
    parse_score_answer,
)
from sealdog.protocol import Mode, Role
from sealdog.sealed_model import SealedModel

T = TypeVar("T")
Item = TypeVar("Item")
Delivery = Literal["direct", "inbox"]
BitRow = Iterable[int]  # a list, tuple or numpy row of 0/1 values
MAX_FILE_ANSWER_BYTES = 1024 * 1024 * 1024  # a sealed-model download (server cap: 512 MiB)


class SupportsToBytes(Protocol):
    """A sealed artifact of any kind (`SealedModel`, a sealed XOR network, ...)."""

    def to_bytes(self) -> bytes: ...


SealedArtifact = SupportsToBytes | bytes | str | Path


@dataclass(frozen=True)
class Request:
    """What to send; `idempotent` says whether resending after a lost answer is safe."""

    method: str
    path: str
    idempotent: bool
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    max_answer_bytes: int | None = None  # None: the transport's cap for a JSON answer


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request and the parser of its successful answer (JSON, raw bytes, or None for 204)."""

    request: Request
    parse: Callable[[Any], T]


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _none(_: Any) -> None:
    return None


def _segment(value: str) -> str:
    """An id as exactly one path segment, whatever characters it holds."""
    return quote(value, safe="")


def sealed_bytes(model: SealedArtifact) -> bytes:
    """The bytes of a sealed artifact given as an object, bytes or a file path."""
    if isinstance(model, bytes):
        return model
    if isinstance(model, (str, Path)):
        try:
            return Path(model).read_bytes()
        except OSError as exc:
            raise ClientError(
                f"Cannot read sealed-model file {model}: {exc.strerror or exc}."
            ) from exc
    return model.to_bytes()


def health() -> Call[dict[str, Any]]:
    return Call(Request("GET", "/healthz", True), _object)


def ready() -> Call[dict[str, Any]]:
    return Call(Request("GET", "/readyz", True), _object)


def deploy(
    model: SealedArtifact, *, attestation: bytes | None = None, strict_rerandomise: bool = False
) -> Call[ModelInfo]:
    # Content-addressed: uploading the same bytes again answers with the same model.
    headers = {"Content-Type": "application/octet-stream"}
    if attestation is not None:  # the auditor's file, checked by the server before storing
        headers["Sealdog-Attestation"] = base64.b64encode(attestation).decode("ascii")
    req = Request(
        "POST",
        "/v1/models",
        True,
        params={"strict_rerandomise": "true"} if strict_rerandomise else None,
        content=sealed_bytes(model),
        headers=headers,
    )
    return Call(req, ModelInfo.from_json)


def list_models() -> Call[list[ModelInfo]]:
    return Call(Request("GET", "/v1/models", True), ModelInfo.list_from_json)


def get_model(model_id: str) -> Call[ModelInfo]:
    return Call(Request("GET", f"/v1/models/{_segment(model_id)}", True), ModelInfo.from_json)


def download_model(model_id: str) -> Call[SealedModel]:
    path = f"/v1/models/{_segment(model_id)}/sealed"
    req = Request("GET", path, True, max_answer_bytes=MAX_FILE_ANSWER_BYTES)
    return Call(req, SealedModel.from_bytes)


def delete_model(model_id: str) -> Call[None]:
    return Call(Request("DELETE", f"/v1/models/{_segment(model_id)}", True), _none)


def verdicts(model_id: str, after: str, limit: int) -> Call[InboxPage]:
    req = Request(
        "GET",
        f"/v1/models/{_segment(model_id)}/verdicts",
        True,
        params={"after": after, "limit": limit},
    )
    return Call(req, InboxPage.from_json)


def create_token(role: Role, subject: str | None, models: Sequence[str]) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"role": str(role), "models": list(models)}
    if subject:
        body["subject"] = subject
    return Call(Request("POST", "/v1/tokens", False, json=body), _object)


def grant(token_id: str, model_id: str) -> Call[dict[str, Any]]:
    req = Request(
        "POST", f"/v1/tokens/{_segment(token_id)}/grants", True, json={"model_id": model_id}
    )
    return Call(req, _object)


# --- scoring: POST /v1/models/{id}/score, e-mails or bit rows --------------------------


@dataclass(frozen=True)
class BatchRoute(Generic[Item]):
    """How one kind of scoring item travels: the body field holding the batch, the
    problem+json member in which the server's 413 names its per-batch cap, each item's JSON
    and its approximate share of the request body (for the byte budget), its name in
    messages, and the size the server's per-item cap applies to (None: no such cap)."""

    field: str
    cap_member: str
    to_json: Callable[[Item], Any]
    wire_size: Callable[[Item], int]
    name: Callable[[int, Item], str]
    capped_size: Callable[[Item], int] | None = None

    def advertised_cap(self, problem: Mapping[str, Any]) -> int | None:
        """The server's batch cap from a 413's problem+json, if it sent one (a positive int)."""
        cap = problem.get(self.cap_member)
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            return None
        return cap


def _email_json(email: Email) -> dict[str, Any]:
    return email.to_json()


def _email_size(email: Email) -> int:
    return email.wire_size


def _email_name(index: int, email: Email) -> str:
    return email.message_id or f"e-mail #{index + 1}"


def _email_bytes(email: Email) -> int:
    return len(email.raw)


def _row_size(row: list[int]) -> int:
    return 3 * len(row) + 2  # "0, " per bit, brackets


def _row_name(index: int, _: list[int]) -> str:
    return f"inputs[{index}]"


EMAILS: BatchRoute[Email] = BatchRoute(
    "emails", "max_emails_per_batch", _email_json, _email_size, _email_name, _email_bytes
)
INPUTS: BatchRoute[list[int]] = BatchRoute(
    "inputs", "max_inputs_per_batch", list, _row_size, _row_name
)


def _bit(value: object) -> int | None:
    """0 or 1 for an integer bit (Python or NumPy int, not bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        bit = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None
    return bit if bit in (0, 1) else None


def bit_rows(inputs: Iterable[BitRow]) -> list[list[int]]:
    """Plain-int copies of bit rows (numpy integers included); anything but 0 or 1 is refused
    here, before any batch is sent, in the server's words. Row length is the model's
    business (the server checks it)."""
    rows: list[list[int]] = []
    for i, row in enumerate(inputs):
        if isinstance(row, (str, bytes, Mapping)) or not isinstance(row, Iterable):
            raise ClientError(f"inputs[{i}] must be a list of bits, e.g. [0, 1]")
        values = list(row)
        bits = [_bit(v) for v in values]
        for j, bit in enumerate(bits):
            if bit is None:
                raise ClientError(f"inputs[{i}][{j}] is {values[j]!r}; inputs must be bits, 0 or 1")
        rows.append([b for b in bits if b is not None])
    return rows


IDEMPOTENCY_HEADER = "Idempotency-Key"


def score(
    route: BatchRoute[Item], model_id: str, batch: Sequence[Item], delivery: Delivery, mode: Mode
) -> Call[ScoreResult]:
    """Score one batch. Direct scoring stores nothing, so resending it is harmless. Inbox
    scoring stores an entry, so the batch carries a fresh random Idempotency-Key, reused by
    every retry of this call: the server stores a key once per model and answers a retry
    with the stored entry, so a batch resent after a lost answer (a replica killed behind
    the load balancer, a reset connection) is in the inbox exactly once."""
    body = {
        route.field: [route.to_json(item) for item in batch],
        "delivery": delivery,
        "mode": str(mode),
    }
    headers = None if delivery == "direct" else {IDEMPOTENCY_HEADER: uuid.uuid4().hex}
    req = Request(
        "POST", f"/v1/models/{_segment(model_id)}/score", True, json=body, headers=headers
    )
    size = len(batch)
    return Call(req, lambda data: parse_score_answer(data, size))
