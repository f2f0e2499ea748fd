"""What every model kind shares: errors, the validation result, the scoring job, the protocol.

A kind receives the sealed-model container already parsed and its digest checked
(`open_container`); it validates its own manifest fields and payload (`Kind.validate`) and
loads a scorer (`Kind.load`). A loaded model has one method, `score(batch, mode=...)`: the
batch carries e-mails or input rows, and a kind answers the shape it does not score with a
`ScoringInputError` that says what to send instead.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sealdog.errors import SealdogError
from sealdog.mail.errors import MailError
from sealdog.protocol import Mode
from sealdog.sealed_model import SealedModel


class ModelRejectedError(SealdogError):
    """An uploaded sealed model failed validation (the message says which check)."""


class ScoringInputError(SealdogError):
    """An e-mail or input row in a batch cannot be scored (HTTP 422).

    `index` is the item's position in the batch when one item is at fault: the problem+json
    answer carries it as data (`item`, `index`), so a client can set that item aside and send
    the rest without reading the message. It survives pickling (an exception's `__dict__`
    travels with it from the scoring process)."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ScoringInputTooLargeError(ScoringInputError):
    """An e-mail in a batch is over the size cap (HTTP 413)."""


@dataclass(frozen=True)
class ValidatedModel:
    """What validation establishes about a sealed model: the fields the registry stores and
    shows (`storage.repository.ModelRecord` extends it with registry fields)."""

    kind: str
    scheme: str
    digest: str
    key_fingerprint: str
    key_bits: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class EmailBatch:
    """Raw e-mails, each already checked against `max_email_bytes` by the router."""

    emails: tuple[bytes, ...]
    max_email_bytes: int

    def __len__(self) -> int:
        return len(self.emails)

    @property
    def cost_bytes(self) -> int:
        """Raw bytes to parse: the scoring engine's cost estimate (parsing is linear in it)."""
        return sum(len(email) for email in self.emails)


@dataclass(frozen=True)
class InputBatch:
    """Plaintext input rows (e.g. bit pairs for an XOR network)."""

    rows: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def cost_bytes(self) -> int:
        """One unit per input value: the scoring engine's cost estimate."""
        return sum(len(row) for row in self.rows)


Batch = EmailBatch | InputBatch


@dataclass(frozen=True)
class ScoringOptions:
    """How one request is scored: decided once, by the router (request, settings, the model's
    record and its attestation), and carried unchanged to the scoring process. Kinds that
    have no use for a field ignore it."""

    mode: Mode
    strict_rerandomise: bool = False
    """A full r^n mod n^2 on every output ciphertext (SEALDOG_STRICT_RERANDOMISE, issue 14);
    Paillier kinds only."""
    attested_score_bound: int | None = None
    """The score bound of the model's attestation, verified against the trusted auditors for
    this request (`server.attestations.standing`); None when the model is not attested. The
    linear kind may size its verdict slots from it (`ScoringCaps.design_bound`)."""


@dataclass(frozen=True)
class ScoreJob:
    """One batch for a scoring process: small and picklable (the model stays on disk)."""

    model_id: str
    digest: str
    kind: str
    path: str
    batch: Batch
    options: ScoringOptions

    @property
    def cost_bytes(self) -> int:
        """The batch's cost estimate: which scoring lane runs the job."""
        return self.batch.cost_bytes


XOR_INPUT_WIDTH = 2
"""Bits per input row of an XOR network: [x1, x2]."""


def check_bit_rows(inputs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Each input of an XOR network (both kinds) must be exactly [x1, x2] with bits 0/1; a
    ScoringInputError names the row."""
    rows = []
    for i, row in enumerate(inputs):
        if len(row) != XOR_INPUT_WIDTH:
            raise ScoringInputError(
                f"inputs[{i}] has {len(row)} values; an XOR network takes {XOR_INPUT_WIDTH} bits "
                "[x1, x2]",
                index=i,
            )
        for j, v in enumerate(row):
            if isinstance(v, bool) or v not in (0, 1):
                raise ScoringInputError(
                    f"inputs[{i}][{j}] is {v!r}; inputs must be bits, 0 or 1", index=i
                )
        rows.append((int(row[0]), int(row[1])))
    return rows


class LoadedModel(Protocol):
    """A sealed model ready to score in a worker process (cached by digest)."""

    def score(self, batch: Batch, options: ScoringOptions) -> dict[str, Any]:
        """The encrypted answer's JSON (re-randomised) for the batch, in order; a batch of
        the shape this kind does not score raises ScoringInputError."""
        ...


class Kind(Protocol):
    """One hostable model kind (its name is the manifest's `kind`)."""

    name: str

    def validate(
        self, model: SealedModel, *, demo_mode: bool, allow_research: bool
    ) -> ValidatedModel:
        """Full validation; raises ModelRejectedError. `allow_research`: the operator opted in
        to research-grade (non-confidential) schemes."""
        ...

    def load(self, model: SealedModel) -> LoadedModel:
        """A scorer for a model that passed `validate` when it was uploaded."""
        ...


def _check_expansion(data: bytes) -> None:
    """Refuse zip members that would expand far beyond the upload (a zip bomb): sealed
    models are stored uncompressed, so their members are never larger than the file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ModelRejectedError(
            "not a sealed-model file (expected the zip container that SealedModel.to_bytes writes)"
        ) from None
    if total > len(data) + 1024 * 1024:
        raise ModelRejectedError("sealed-model members expand far beyond the upload size")


def open_container(data: bytes) -> SealedModel:
    """Parse a sealed-model file once, digest checked; every failure a ModelRejectedError."""
    try:
        SealedModel.refuse_legacy_xor(data)
    except SealdogError as exc:
        raise ModelRejectedError(str(exc)) from None
    _check_expansion(data)
    try:
        return SealedModel.from_bytes(data)
    except (SealdogError, MailError) as exc:
        raise ModelRejectedError(str(exc)) from None
    except RecursionError:
        raise ModelRejectedError("sealed-model manifest is nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ModelRejectedError(
            f"not a readable sealed-model file ({type(exc).__name__})"
        ) from None


# --- manifest fields: typed and bounded before any of them is used ------------------------
# A manifest is attacker-supplied JSON. Each numeric field must be a JSON integer (never a
# float, a bool or an arbitrary string) in a documented range, and the manifest's shape
# (nesting depth, metadata size) is bounded: a hostile upload is refused at once, naming the
# field and its range, instead of failing later (or failing every later score).

MAX_DEPTH = 16
MAX_METADATA_BYTES = 64 * 1024
MAX_SHORT_STRING = 200
_DECIMAL = re.compile(r"^[0-9]{1,2600}$")

# Ranges of the linear kind's fields (inclusive).
DIM_RANGE = (1, 1 << 24)
SCALE_BITS_RANGE = (1, 64)
MAX_COUNT_RANGE = (1, 1 << 16)


def json_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of JSON data, without recursion; stops counting past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_manifest_shape(manifest: Mapping[str, Any]) -> None:
    """Bound the manifest's nesting and its free-form parts (metadata, created_at)."""
    if json_depth(manifest) > MAX_DEPTH:
        raise ModelRejectedError(f"manifest is nested deeper than {MAX_DEPTH} levels")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ModelRejectedError("manifest field 'metadata' must be a JSON object")
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ModelRejectedError(
            f"manifest metadata is {size:,} bytes, above the cap of {MAX_METADATA_BYTES:,}"
        )
    for name in ("kind", "scheme", "key_fingerprint", "created_at"):
        value = manifest.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SHORT_STRING):
            raise ModelRejectedError(
                f"manifest field {name!r} must be a string of at most {MAX_SHORT_STRING} characters"
            )


def manifest_integer(manifest: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    """A JSON integer field in lo..hi (a float such as 3.0 or a bool is refused)."""
    value = manifest.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelRejectedError(
            f"manifest field {name!r} must be an integer in {lo}..{hi}, got {_show(value)}"
        )
    if not lo <= value <= hi:
        raise ModelRejectedError(f"manifest field {name!r} is {value}, outside {lo}..{hi}")
    return value


def manifest_big_integer(manifest: Mapping[str, Any], name: str) -> int:
    """A non-negative integer that may exceed JSON's safe range: an int or a decimal string."""
    value = manifest.get(name)
    if isinstance(value, str) and _DECIMAL.match(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ModelRejectedError(
        f"manifest field {name!r} must be a non-negative integer (or its decimal string), "
        f"got {_show(value)}"
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
