"""The repository: every query the server runs, returning plain frozen records.

Callers never see SQLAlchemy sessions or rows, so the routers stay free of SQL and the
records can cross thread boundaries safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealdog.protocol import Mode, Role
from sealdog.server.kinds.base import ValidatedModel
from sealdog.server.storage.tables import GrantRow, ModelRow, TokenRow, VerdictRow


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: Role
    subject: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    token_hash: str
    model_ids: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, kw_only=True)
class ModelRecord(ValidatedModel):
    """A registered model: what validation established, plus the registry's own fields.

    Its fields are the `sealed_models` columns one to one, and the HTTP `ModelInfo` is built
    from it by attribute name: a new field is added here (or on ValidatedModel), in the
    table (with a migration) and in `schemas.ModelInfo`."""

    id: str
    owner: str
    size_bytes: int
    uploaded_at: datetime
    score_mode_enabled: bool
    strict_rerandomise: bool = False
    """The owner asked for strict re-randomisation at deploy (it can only add to the server's
    setting, never lower it)."""
    attestation: dict[str, Any] | None = None
    """An auditor's attestation document (`sealdog.attestation`), verified when attached."""

    @classmethod
    def register(
        cls,
        validated: ValidatedModel,
        *,
        id: str,
        owner: str,
        size_bytes: int,
        uploaded_at: datetime,
        strict_rerandomise: bool = False,
        attestation: dict[str, Any] | None = None,
    ) -> ModelRecord:
        """The record of a freshly uploaded model (exact-score mode starts off)."""
        base = {f.name: getattr(validated, f.name) for f in fields(ValidatedModel)}
        return cls(
            **base,
            id=id,
            owner=owner,
            size_bytes=size_bytes,
            uploaded_at=uploaded_at,
            score_mode_enabled=False,
            strict_rerandomise=strict_rerandomise,
            attestation=attestation,
        )


MODEL_FIELDS = tuple(f.name for f in fields(ModelRecord))


@dataclass(frozen=True)
class VerdictRecord:
    id: int
    model_id: str
    created_at: datetime
    mode: Mode
    count: int
    message_ids: list[str | None]
    payload: str


class DuplicateModelError(Exception):
    """The owner already has a model with this digest (a concurrent identical upload)."""


def _token(row: TokenRow, model_ids: Iterable[str] = ()) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        role=Role(row.role),
        subject=row.subject,
        label=row.label,
        created_at=_aware(row.created_at),
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        token_hash=row.token_hash,
        model_ids=tuple(sorted(model_ids)),
    )


def _model(row: ModelRow) -> ModelRecord:
    values: dict[str, Any] = {name: getattr(row, name) for name in MODEL_FIELDS}
    values.update(
        summary=dict(row.summary),
        uploaded_at=_aware(row.uploaded_at),
        score_mode_enabled=bool(row.score_mode_enabled),
        strict_rerandomise=bool(row.strict_rerandomise),
        attestation=dict(row.attestation) if row.attestation is not None else None,
    )
    return ModelRecord(**values)


def _verdict(row: VerdictRow) -> VerdictRecord:
    return VerdictRecord(
        id=row.id,
        model_id=row.model_id,
        created_at=_aware(row.created_at),
        mode=Mode(row.mode),
        count=row.count,
        message_ids=list(row.message_ids),
        payload=row.payload,
    )


def _changed(result: Result[Any]) -> bool:
    """Whether an UPDATE/DELETE touched a row (DML results are cursor results)."""
    assert isinstance(result, CursorResult)
    return bool(result.rowcount)


class Repository:
    """Tokens, models, grants and the verdict inbox over one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # -- tokens ---------------------------------------------------------------------------
    def add_token(
        self,
        *,
        token_id: str,
        token_hash: str,
        role: Role,
        subject: str,
        label: str | None,
        model_ids: Iterable[str] = (),
    ) -> TokenRecord:
        model_ids = list(dict.fromkeys(model_ids))
        with self._session() as session, session.begin():
            missing = [m for m in model_ids if session.get(ModelRow, m) is None]
            if missing:
                raise KeyError(", ".join(missing))
            row = TokenRow(
                id=token_id,
                token_hash=token_hash,
                role=Role(role).value,
                subject=subject,
                label=label,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            for model_id in model_ids:
                session.add(GrantRow(token_id=token_id, model_id=model_id))
            return _token(row, model_ids)

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._session() as session:
            row = session.scalars(select(TokenRow).where(TokenRow.token_hash == token_hash)).first()
            if row is None:
                return None
            grants = session.scalars(select(GrantRow.model_id).where(GrantRow.token_id == row.id))
            return _token(row, grants)

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self._session() as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                return None
            grants = session.scalars(select(GrantRow.model_id).where(GrantRow.token_id == row.id))
            return _token(row, grants)

    def list_tokens(self) -> list[TokenRecord]:
        with self._session() as session:
            rows = session.scalars(select(TokenRow).order_by(TokenRow.created_at, TokenRow.id))
            grants: dict[str, list[str]] = {}
            for token_id, model_id in session.execute(select(GrantRow.token_id, GrantRow.model_id)):
                grants.setdefault(token_id, []).append(model_id)
            return [_token(row, grants.get(row.id, ())) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        """Mark a token revoked; False if there is no such token."""
        with self._session() as session, session.begin():
            row = session.get(TokenRow, token_id)
            if row is None:
                return False
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return True

    def grant(self, token_id: str, model_id: str) -> None:
        with self._session() as session, session.begin():
            if session.get(GrantRow, (token_id, model_id)) is None:
                session.add(GrantRow(token_id=token_id, model_id=model_id))

    def is_granted(self, token_id: str, model_id: str) -> bool:
        with self._session() as session:
            return session.get(GrantRow, (token_id, model_id)) is not None

    # -- models ---------------------------------------------------------------------------
    def add_model(self, record: ModelRecord) -> ModelRecord:
        try:
            with self._session() as session, session.begin():
                session.add(ModelRow(**{name: getattr(record, name) for name in MODEL_FIELDS}))
        except IntegrityError as exc:
            raise DuplicateModelError(record.digest) from exc
        return record

    def get_model(self, model_id: str) -> ModelRecord | None:
        with self._session() as session:
            row = session.get(ModelRow, model_id)
            return _model(row) if row else None

    def model_by_digest(self, owner: str, digest: str) -> ModelRecord | None:
        with self._session() as session:
            row = session.scalars(
                select(ModelRow).where(ModelRow.owner == owner, ModelRow.digest == digest)
            ).first()
            return _model(row) if row else None

    def list_models(self, owner: str | None = None) -> list[ModelRecord]:
        """Models of `owner` (every model when None), oldest first."""
        with self._session() as session:
            query = select(ModelRow).order_by(ModelRow.uploaded_at, ModelRow.id)
            if owner is not None:
                query = query.where(ModelRow.owner == owner)
            return [_model(row) for row in session.scalars(query)]

    def list_models_by_id(self, model_ids: Iterable[str]) -> list[ModelRecord]:
        ids = list(model_ids)
        if not ids:
            return []
        with self._session() as session:
            query = select(ModelRow).where(ModelRow.id.in_(ids)).order_by(ModelRow.uploaded_at)
            return [_model(row) for row in session.scalars(query)]

    def delete_model(self, model_id: str) -> bool:
        """Delete a model with its grants and inbox; False if it did not exist."""
        with self._session() as session, session.begin():
            # Explicit deletes: no reliance on ON DELETE CASCADE being enabled.
            session.execute(delete(VerdictRow).where(VerdictRow.model_id == model_id))
            session.execute(delete(GrantRow).where(GrantRow.model_id == model_id))
            result = session.execute(delete(ModelRow).where(ModelRow.id == model_id))
            return _changed(result)

    def set_score_mode(self, model_id: str, enabled: bool) -> bool:
        with self._session() as session, session.begin():
            result = session.execute(
                update(ModelRow).where(ModelRow.id == model_id).values(score_mode_enabled=enabled)
            )
            return _changed(result)

    def attach(
        self,
        model_id: str,
        *,
        attestation: dict[str, Any] | None = None,
        strict_rerandomise: bool = False,
    ) -> bool:
        """Set a (verified) attestation and/or turn strict re-randomisation on; never off."""
        values: dict[str, Any] = {}
        if attestation is not None:
            values["attestation"] = attestation
        if strict_rerandomise:
            values["strict_rerandomise"] = True
        if not values:
            return self.get_model(model_id) is not None
        with self._session() as session, session.begin():
            result = session.execute(
                update(ModelRow).where(ModelRow.id == model_id).values(**values)
            )
            return _changed(result)

    # -- verdict inbox --------------------------------------------------------------------
    def add_verdicts(
        self, *, model_id: str, mode: Mode, count: int, message_ids: list[str | None], payload: str
    ) -> VerdictRecord:
        """Append an inbox entry without an idempotency key (see `store_verdicts`)."""
        entry, _ = self.store_verdicts(
            model_id=model_id, mode=mode, count=count, message_ids=message_ids, payload=payload
        )
        return entry

    def store_verdicts(
        self,
        *,
        model_id: str,
        mode: Mode,
        count: int,
        message_ids: list[str | None],
        payload: str,
        idempotency_key: str | None = None,
    ) -> tuple[VerdictRecord, bool]:
        """Append an inbox entry; its id is the cursor. Returns (entry, stored now).

        The model's row is locked first (FOR UPDATE; SQLite serialises writers anyway), so a
        model's entries commit in id order: a reader polling with `after=<cursor>` can never
        skip an entry that commits later with a smaller id.

        With `idempotency_key`, an entry of this model already stored under that key is
        returned instead (stored now = False) and nothing is written: a client that retries
        a batch whose answer it lost gets the first acknowledgement, and the batch is in the
        inbox once. The unique index on (model_id, idempotency_key) holds this even when two
        attempts race (the loser's insert fails and it returns the winner's entry).
        """
        try:
            with self._session() as session, session.begin():
                session.execute(
                    select(ModelRow.id).where(ModelRow.id == model_id).with_for_update()
                )
                if idempotency_key is not None:
                    stored = self._keyed(session, model_id, idempotency_key)
                    if stored is not None:
                        return stored, False
                row = VerdictRow(
                    model_id=model_id,
                    created_at=utcnow(),
                    mode=Mode(mode).value,
                    count=count,
                    message_ids=message_ids,
                    payload=payload,
                    idempotency_key=idempotency_key,
                )
                session.add(row)
                session.flush()
                return _verdict(row), True
        except IntegrityError:
            if idempotency_key is None:
                raise
            stored = self.verdicts_by_key(model_id, idempotency_key)
            if stored is None:  # the row that clashed is gone again (model deleted)
                raise
            return stored, False

    def verdicts_by_key(self, model_id: str, key: str) -> VerdictRecord | None:
        """The inbox entry of this model stored under idempotency `key`, if any."""
        with self._session() as session:
            return self._keyed(session, model_id, key)

    @staticmethod
    def _keyed(session: Session, model_id: str, key: str) -> VerdictRecord | None:
        row = session.scalars(
            select(VerdictRow).where(
                VerdictRow.model_id == model_id, VerdictRow.idempotency_key == key
            )
        ).first()
        return _verdict(row) if row is not None else None

    def list_verdicts(self, model_id: str, *, after: int, limit: int) -> list[VerdictRecord]:
        """Inbox entries with id > `after`, in id order (the id is the cursor)."""
        with self._session() as session:
            query = (
                select(VerdictRow)
                .where(VerdictRow.model_id == model_id, VerdictRow.id > after)
                .order_by(VerdictRow.id)
                .limit(limit)
            )
            return [_verdict(row) for row in session.scalars(query)]
