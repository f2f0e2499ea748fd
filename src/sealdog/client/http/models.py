"""The client's records: what it sends (`Email`, bit rows) and what the server answers.

Every record is a frozen dataclass built by a `from_json` that checks each value it reads
(type, range, consistency between fields) before anything else uses it: a server of
another version, or a proxy answering in its place, gives a `ValueError` naming the field,
which the transport turns into a `ClientError` that says so. Ciphertexts are parsed by
their own codecs (`EncryptedVerdicts.from_json`, which raises `CorruptDataError`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealdog.crypto.paillier import EncryptedVerdicts
from sealdog.crypto.paillier.verdicts import VERDICTS_FORMAT
from sealdog.protocol import Mode

MAX_MESSAGE_ID = 998  # the server's cap on a message id (an RFC 5322 line)

# --- checked reads from a JSON object ---------------------------------------------------


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"{what} is {type(data).__name__}, not a JSON object")
    return data


def _str(data: Mapping[str, Any], key: str, *, max_len: int = 4096) -> str:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > max_len:
        raise ValueError(f"{key!r} is not a string of at most {max_len} characters: {value!r:.80}")
    return value


def _int(data: Mapping[str, Any], key: str, *, low: int = 0, high: int = 2**63) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key!r} is not an integer in [{low}, {high}]: {value!r:.80}")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise TypeError(f"{key!r} is not true or false: {value!r:.80}")
    return value


def _message_ids(data: Mapping[str, Any], count: int) -> list[str | None]:
    ids = data.get("message_ids")
    if not isinstance(ids, list) or len(ids) != count:
        raise ValueError(f"'message_ids' is not a list of {count} ids")
    for value in ids:
        if value is not None and (not isinstance(value, str) or len(value) > MAX_MESSAGE_ID):
            raise ValueError(f"a message id is not a string of at most {MAX_MESSAGE_ID} characters")
    return list(ids)


def _mode(data: Mapping[str, Any]) -> Mode:
    value = data.get("mode")
    if value not in set(Mode):
        raise ValueError(f"'mode' is not one of {[m.value for m in Mode]}: {value!r:.40}")
    return Mode(value)


# --- what the client sends ----------------------------------------------------------------


@dataclass(frozen=True)
class Email:
    """One e-mail to submit: raw bytes and an optional id echoed into the verdict inbox."""

    raw: bytes
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"base64": base64.b64encode(self.raw).decode("ascii")}
        if self.message_id is not None:
            body["message_id"] = self.message_id[:MAX_MESSAGE_ID]
        return body

    @property
    def wire_size(self) -> int:
        """About how many bytes this e-mail adds to a request body (for batching)."""
        return 4 * ((len(self.raw) + 2) // 3) + len(self.message_id or "") + 40


# --- what the server answers ---------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """A hosted model's public metadata (never its ciphertexts)."""

    id: str
    kind: str
    scheme: str
    digest: str
    key_fingerprint: str
    key_bits: int
    size_bytes: int
    uploaded_at: str
    score_mode_enabled: bool
    owner: str
    summary: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> ModelInfo:
        data = _object(data, "a model")
        summary = data.get("summary")
        if summary is None:
            summary = {}
        return cls(
            id=_str(data, "id", max_len=256),
            kind=_str(data, "kind", max_len=64),
            scheme=_str(data, "scheme", max_len=64),
            digest=_str(data, "digest", max_len=256),
            key_fingerprint=_str(data, "key_fingerprint", max_len=256),
            key_bits=_int(data, "key_bits", low=1, high=1 << 20),
            size_bytes=_int(data, "size_bytes"),
            uploaded_at=_str(data, "uploaded_at", max_len=64),
            score_mode_enabled=_bool(data, "score_mode_enabled"),
            owner=_str(data, "owner", max_len=256),
            summary=dict(_object(summary, "'summary'")),
        )

    @classmethod
    def list_from_json(cls, data: Any) -> list[ModelInfo]:
        models = _object(data, "a model list").get("models")
        if not isinstance(models, list):
            raise TypeError("'models' is not a list")
        return [cls.from_json(m) for m in models]


@dataclass(frozen=True)
class EncryptedOutputs:
    """Encrypted outputs of a model kind whose ciphertexts this client does not decode
    (xor networks: "sealdog-xor-outputs"): the server's JSON document as sent, for that
    kind's key-holder code (e.g. `sealdog.xor.outputs.decrypt_xor_outputs(sk, payload)`)."""

    format: str
    payload: dict[str, Any] = field(repr=False)


Ciphertexts = EncryptedVerdicts | EncryptedOutputs
"""What a scoring answer or inbox entry carries: Paillier verdicts (linear models, decrypted
by `sealdog.client.decryption`) or another kind's encrypted outputs."""


def parse_ciphertexts(data: Any, count: int) -> Ciphertexts:
    """The `verdicts` member of an answer, by its `format`; it must hold `count` results."""
    data = _object(data, "'verdicts'")
    fmt = _str(data, "format", max_len=128)
    verdicts: Ciphertexts
    if fmt == VERDICTS_FORMAT:
        verdicts = EncryptedVerdicts.from_json(dict(data))
        held = verdicts.count
    else:
        held = _int(data, "count")
        verdicts = EncryptedOutputs(fmt, dict(data))
    if held != count:
        raise ValueError(f"'verdicts' holds {held} results for a batch of {count}")
    return verdicts


@dataclass(frozen=True)
class DirectResult:
    """Direct delivery: one batch's encrypted results, in submission order (`message_ids`
    are None for bit inputs)."""

    model_id: str
    message_ids: list[str | None]
    verdicts: Ciphertexts

    @property
    def count(self) -> int:
        return len(self.message_ids)


@dataclass(frozen=True)
class InboxAck:
    """Inbox delivery: the server stored the batch's results for the key holder."""

    model_id: str
    count: int
    inbox_entry: str


ScoreResult = DirectResult | InboxAck


def parse_score_answer(data: Any, batch_size: int) -> ScoreResult:
    """A scoring answer for a batch of `batch_size` items (direct or inbox acknowledgement)."""
    data = _object(data, "a scoring answer")
    model_id = _str(data, "model_id", max_len=256)
    count = _int(data, "count", low=batch_size, high=batch_size)
    if data.get("delivery") == "inbox":
        return InboxAck(model_id, count, _str(data, "inbox_entry", max_len=64))
    if data.get("delivery") != "direct":
        raise ValueError(f"'delivery' is not 'direct' or 'inbox': {data.get('delivery')!r:.40}")
    return DirectResult(
        model_id, _message_ids(data, count), parse_ciphertexts(data.get("verdicts"), count)
    )


@dataclass(frozen=True)
class InboxEntry:
    """One stored batch of results in a model's verdict inbox; `cursor` resumes after it."""

    cursor: str
    model_id: str
    created_at: str
    mode: Mode
    count: int
    message_ids: list[str | None]
    verdicts: Ciphertexts

    @classmethod
    def from_json(cls, data: Any) -> InboxEntry:
        data = _object(data, "an inbox entry")
        count = _int(data, "count", low=1)
        return cls(
            cursor=_str(data, "cursor", max_len=64),
            model_id=_str(data, "model_id", max_len=256),
            created_at=_str(data, "created_at", max_len=64),
            mode=_mode(data),
            count=count,
            message_ids=_message_ids(data, count),
            verdicts=parse_ciphertexts(data.get("verdicts"), count),
        )


@dataclass(frozen=True)
class InboxPage:
    """Entries after a cursor, oldest first; pass `next_cursor` as `after` for the next page."""

    entries: list[InboxEntry]
    next_cursor: str

    @classmethod
    def from_json(cls, data: Any) -> InboxPage:
        data = _object(data, "an inbox page")
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise TypeError("'entries' is not a list")
        cursor = _str(data, "next_cursor", max_len=64)
        return cls([InboxEntry.from_json(e) for e in entries], cursor)
