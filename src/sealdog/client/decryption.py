"""The key holder's last step: encrypted verdicts (direct answers or inbox entries) to verdicts.

Unpacking, unblinding and the wrong-key checks are `sealdog.crypto.paillier.decrypt_verdicts`;
this module only pairs each verdict with its message id and where it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sealdog.client.errors import DecryptionError
from sealdog.client.http import Ciphertexts, DirectResult, InboxEntry
from sealdog.crypto.paillier import EncryptedVerdicts, SecretKey, decrypt_verdicts
from sealdog.errors import SealdogError

if TYPE_CHECKING:
    from sealdog.bulk.archive import ArchiveRow


@dataclass(frozen=True)
class Verdict:
    """One decrypted verdict: `positive` is True when the model says spam. `truncated`: the
    server read the e-mail only in part (it was over a parsing cap), so the verdict covers
    what was read."""

    message_id: str | None
    positive: bool
    model_id: str
    cursor: str | None = None
    truncated: bool = False

    @property
    def label(self) -> str:
        return "spam" if self.positive else "ham"


def decrypt_batch(secret_key: SecretKey, verdicts: Ciphertexts) -> list[bool]:
    """Verdicts of one packed batch, in submission order (raises `DecryptionError`)."""
    if not isinstance(verdicts, EncryptedVerdicts):
        raise DecryptionError(
            f"These are {verdicts.format!r} outputs, not Paillier verdicts: the model is not a "
            "linear spam model; decrypt them with its kind's tools."
        )
    try:
        return decrypt_verdicts(secret_key, verdicts)
    except SealdogError as exc:
        raise DecryptionError(
            f"{exc} Check that --secret-key is the key the model was sealed with "
            f"(model key {verdicts.key_fingerprint[:16]}..., your key "
            f"{secret_key.public_key.fingerprint[:16]}...)."
        ) from exc


def _paired(
    ids: Sequence[str | None],
    verdicts: Ciphertexts,
    flags: Sequence[bool],
    model_id: str,
    cursor: str | None,
) -> list[Verdict]:
    if len(ids) != len(flags):
        raise DecryptionError(
            f"The server sent {len(flags)} verdicts for {len(ids)} message ids (entry {cursor}): "
            "corrupt answer."
        )
    cut = set(verdicts.truncated) if isinstance(verdicts, EncryptedVerdicts) else set()
    return [
        Verdict(i, f, model_id, cursor, truncated=k in cut)
        for k, (i, f) in enumerate(zip(ids, flags))
    ]


def decrypt_direct(secret_key: SecretKey, results: Iterable[DirectResult]) -> list[Verdict]:
    """Verdicts of direct-delivery answers, in submission order."""
    out: list[Verdict] = []
    for result in results:
        out.extend(
            _paired(
                result.message_ids,
                result.verdicts,
                decrypt_batch(secret_key, result.verdicts),
                result.model_id,
                None,
            )
        )
    return out


def decrypt_inbox(secret_key: SecretKey, entries: Iterable[InboxEntry]) -> list[Verdict]:
    """Verdicts of inbox entries, oldest first, each tagged with its entry's cursor."""
    out: list[Verdict] = []
    for entry in entries:
        flags = decrypt_batch(secret_key, entry.verdicts)
        out.extend(_paired(entry.message_ids, entry.verdicts, flags, entry.model_id, entry.cursor))
    return out


def decrypt_archive(
    secret_key: SecretKey,
    rows: Iterable[ArchiveRow],
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Verdict], dict[str, str]]:
    """Verdicts of a bulk run's archive (`sealdog.bulk.archive`), one per scored id (the
    latest, should a resumed run have scored an id twice), and the ids set aside and never
    scored, with the latest reason."""
    by_id: dict[str, Verdict] = {}
    set_aside: dict[str, str] = {}
    for row in rows:
        if row.verdicts is not None:
            try:
                packed = EncryptedVerdicts.from_bytes(row.verdicts)
            except SealdogError as exc:
                raise DecryptionError(f"A verdict archive row is corrupt: {exc}") from exc
            flags = decrypt_batch(secret_key, packed)
            for verdict in _paired(row.ids, packed, flags, packed.key_fingerprint[:16], None):
                by_id[verdict.message_id or ""] = verdict
            if progress is not None:
                progress(len(flags))
        for message, reason in zip(row.skipped_ids, row.skipped_reasons):
            set_aside[message] = reason
    return list(by_id.values()), {k: v for k, v in set_aside.items() if k not in by_id}
