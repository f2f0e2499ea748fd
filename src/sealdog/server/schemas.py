"""Request and response bodies of the HTTP API (pydantic lives here and nowhere deeper).

No request model has a field for a secret key: the server cannot be handed one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sealdog.protocol import Mode, Role
from sealdog.server.storage.repository import ModelRecord

_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def _exactly_one_of(*names: str, patterns: dict[str, str] | None = None) -> Any:
    """A model's JSON schema saying what its validator enforces: exactly one of `names` is
    present, and present means not null (absent is the only way to leave one out);
    `patterns` adds the format the handler checks (base64) to a string field."""

    def fix(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema["properties"][name]
            branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
            if branches:
                prop.update(branches[0])
            prop.pop("default", None)
            if patterns and name in patterns:
                prop["pattern"] = patterns[name]
        schema["oneOf"] = [{"required": [name]} for name in names]

    return fix


def _no_null(value: Any) -> Any:
    if value is None:
        raise ValueError("leave the field out instead of sending null")
    return value


class EmailIn(BaseModel):
    """One e-mail: raw RFC 822 text, or its bytes as base64; exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_exactly_one_of("raw", "base64", patterns={"base64": _BASE64}),
    )

    raw: str | None = Field(default=None, description="The message as text (RFC 822).")
    base64: str | None = Field(default=None, description="The message bytes, base64-encoded.")
    message_id: str | None = Field(
        default=None, max_length=998, description="Caller's id, echoed into the verdict inbox."
    )

    @field_validator("raw", "base64", mode="before")
    @classmethod
    def _body_not_null(cls, value: Any) -> Any:
        return _no_null(value)

    @model_validator(mode="after")
    def _exactly_one_body(self) -> EmailIn:
        if (self.raw is None) == (self.base64 is None):
            raise ValueError("give exactly one of 'raw' or 'base64'")
        return self


class ScoreRequest(BaseModel):
    """A batch for one model: `emails` for linear models, `inputs` (bit rows) for xor networks."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_of("emails", "inputs"))

    emails: list[EmailIn] | None = Field(
        default=None, min_length=1, description="The batch (capped by the server); linear models."
    )
    inputs: list[list[Literal[0, 1]]] | None = Field(
        default=None,
        min_length=1,
        description="Plaintext bit rows, e.g. [[0, 1], [1, 1]] (capped by the server); xor models.",
    )
    delivery: Literal["direct", "inbox"] = Field(
        default="direct",
        description="direct: encrypted verdicts in the response; inbox: stored for the key holder.",
    )
    mode: Mode = Field(
        default=Mode.VERDICT,
        description="verdict: blinded sign only (default); score: exact score, if the operator "
        "enabled it for this model. xor models return their network output in either mode.",
    )

    @field_validator("emails", mode="before")
    @classmethod
    def _emails_not_null(cls, value: Any) -> Any:
        return _no_null(value)

    @field_validator("inputs", mode="before")
    @classmethod
    def _bits_only(cls, value: Any) -> Any:
        """Name the offending row and value (pydantic's own message would be generic)."""
        _no_null(value)
        if isinstance(value, list):
            for i, row in enumerate(value):
                if not isinstance(row, list):
                    # ValueError, not TypeError: pydantic turns only ValueError into a 422.
                    raise ValueError(f"inputs[{i}] must be a list of bits, e.g. [0, 1]")
                for j, v in enumerate(row):
                    if isinstance(v, bool) or not isinstance(v, int) or v not in (0, 1):
                        raise ValueError(f"inputs[{i}][{j}] is {v!r}; inputs must be bits, 0 or 1")
        return value

    @model_validator(mode="after")
    def _emails_or_inputs(self) -> ScoreRequest:
        if (self.emails is None) == (self.inputs is None):
            raise ValueError(
                "give exactly one of 'emails' (linear models) or 'inputs' (xor models)"
            )
        return self


class ScoreAck(BaseModel):
    """Inbox delivery: what was scored and where the key holder will find it."""

    model_id: str
    delivery: Literal["inbox"] = "inbox"
    count: int
    inbox_entry: str = Field(description="Cursor of the stored entry.")


class DirectVerdicts(BaseModel):
    model_id: str
    delivery: Literal["direct"] = "direct"
    count: int
    message_ids: list[str | None]
    verdicts: dict[str, Any] = Field(
        description="EncryptedVerdicts JSON (packed, re-randomised) for linear models; "
        "sealdog-xor-outputs JSON (re-randomised VHE ciphertexts) for xor models."
    )


class ModelInfo(BaseModel):
    """A sealed model's public metadata; never its ciphertexts."""

    # Built from a `storage.repository.ModelRecord` by attribute name (`ModelInfo.of`): its
    # fields are the record's (tests/server/test_kinds.py checks); their order is the JSON's.
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    scheme: str
    digest: str
    key_fingerprint: str
    key_bits: int
    size_bytes: int
    uploaded_at: datetime
    score_mode_enabled: bool
    owner: str
    summary: dict[str, Any] = Field(
        description="Manifest fields without ciphertexts or public key: featuriser, scale, "
        "bounds, metadata, created_at (linear); preset, research_grade, warning, security "
        "estimate, hidden units, activation (xor)."
    )
    strict_rerandomise: bool = Field(
        default=False,
        description="The owner asked for strict re-randomisation of every output (deploy "
        "option); the server's SEALDOG_STRICT_RERANDOMISE can add it, never remove it.",
    )
    attestation: dict[str, Any] | None = Field(
        default=None,
        description="The auditor's attestation attached to the model (`sealdog audit "
        "--attest`), verified when attached; null if none.",
    )

    @classmethod
    def of(cls, record: ModelRecord) -> ModelInfo:
        """The public view of a registry record."""
        return cls.model_validate(record)


class ModelList(BaseModel):
    models: list[ModelInfo]


class InboxEntry(BaseModel):
    cursor: str
    model_id: str
    created_at: datetime
    mode: Mode
    count: int
    message_ids: list[str | None]
    verdicts: dict[str, Any]


class InboxPage(BaseModel):
    entries: list[InboxEntry]
    next_cursor: str = Field(description="Pass as ?after= to get the next entries.")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.@:-]+$",
        description="Who the token acts for; owner tokens with the same subject share models.",
    )
    label: str | None = Field(default=None, max_length=200)
    models: list[str] = Field(default_factory=list, description="Models a submitter may use.")


class TokenInfo(BaseModel):
    id: str
    role: Role
    subject: str
    label: str | None
    created_at: datetime
    revoked: bool
    models: list[str]


class TokenCreated(TokenInfo):
    token: str = Field(description="The bearer token; shown once, stored only as a hash.")


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str


class ScorePolicy(BaseModel):
    """Strict: `true` or `false` only (`0`, `"yes"` are refused, as the schema says)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    score_mode_enabled: bool


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    storage: str = Field(
        default="ok",
        description='"ok", or how many hosted models have lost their sealed file '
        "(the server is then not ready: those models cannot score).",
    )
    missing_models: list[str] = Field(
        default_factory=list, description="Ids of models whose sealed file is missing."
    )
