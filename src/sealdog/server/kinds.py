"""Model kinds: what the server can host, and how it validates and scores each kind.

A sealed-model file names its `kind` in the manifest. Every kind registers a
`ModelKind` here (validation + loading); the scoring workers look the kind up and
never special-case it elsewhere. Today: "linear" (Paillier-sealed linear classifier, a zip
container) and "xor" (integer-vector sealed XOR network, a JSON file; research grade, hosted
only in demo mode or with `allow_research_schemes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sealdog.errors import SealdogError


class ModelRejectedError(SealdogError):
    """An uploaded sealed model failed validation (the message says which check)."""


class ScoringInputError(SealdogError):
    """An e-mail in a batch cannot be scored (HTTP 422)."""


class ScoringInputTooLargeError(ScoringInputError):
    """An e-mail in a batch is over the size cap (HTTP 413)."""


@dataclass(frozen=True)
class ValidatedModel:
    """What the registry stores about a sealed model that passed validation."""

    kind: str
    scheme: str
    digest: str
    key_fingerprint: str
    key_bits: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class ScoreJob:
    """One batch for a scoring process: small and picklable (the model stays on disk)."""

    model_id: str
    digest: str
    kind: str
    path: str
    mode: str
    emails: tuple[bytes, ...]
    max_email_bytes: int
    inputs: tuple[tuple[int, ...], ...] = ()  # bit rows, for kinds that score inputs (xor)


class LoadedModel(Protocol):
    """A sealed model ready to score in a worker process (cached by digest)."""

    def score(self, emails: Sequence[bytes], *, mode: str, max_email_bytes: int) -> dict[str, Any]:
        """EncryptedVerdicts JSON (re-randomised, packed) for `emails`, in order."""
        ...

    def score_inputs(self, inputs: Sequence[Sequence[int]], *, mode: str) -> dict[str, Any]:
        """Encrypted outputs (re-randomised) for plaintext bit rows, in order; kinds that
        score e-mails raise ScoringInputError."""
        ...


class ModelKind(Protocol):
    name: str

    def validate(self, data: bytes, *, demo_mode: bool, allow_research: bool = False) -> ValidatedModel:
        """Full validation; raises ModelRejectedError. `allow_research`: the operator opted in
        to research-grade (non-confidential) schemes."""
        ...

    def load(self, data: bytes, *, expected_digest: str) -> LoadedModel:
        ...


_REGISTRY: dict[str, Callable[[], ModelKind]] = {}


def register_kind(name: str, factory: Callable[[], ModelKind]) -> None:
    _REGISTRY[name] = factory


def kind_handler(name: str) -> ModelKind:
    _load_builtin_kinds()
    try:
        return _REGISTRY[name]()
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ModelRejectedError(f"unknown model kind {name!r} (this server hosts: {known})") from None


def known_kinds() -> list[str]:
    _load_builtin_kinds()
    return sorted(_REGISTRY)


def _load_builtin_kinds() -> None:
    if "linear" not in _REGISTRY:
        from sealdog.server.linear_kind import LinearKind

        register_kind("linear", LinearKind)
    if "xor" not in _REGISTRY:
        from sealdog.server.xor_kind import XorKind

        register_kind("xor", XorKind)


def detect_kind(data: bytes) -> str:
    """The `kind` a sealed-model file declares (raises ModelRejectedError if unreadable)."""
    from sealdog.server.linear_kind import peek_kind
    from sealdog.server.xor_kind import is_json_upload

    if is_json_upload(data):
        return "xor"
    return peek_kind(data)
