"""One bulk worker's scoring: the server's own code path for a block of raw e-mails.

A worker loads the sealed model once (`sealdog.server.kinds`: the same validation, loading
and `score(EmailBatch, mode=VERDICT)` as a server scoring process), then turns each block
into one output row: the ids it scored with their packed verdicts (blinded, re-randomised:
exactly what the server's inbox would hold), and the ids it set aside with the reason.

Invariant: every input id appears in the output row exactly once, scored or set aside. An
e-mail the scorer refuses (`ScoringInputError` naming its index) is set aside and the rest
of the block is scored again without it: one bad message never loses the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sealdog.errors import SealdogError
from sealdog.protocol import Mode
from sealdog.sealed_model import SealedModel
from sealdog.server.kinds.base import EmailBatch, LoadedModel, ScoringInputError, ScoringOptions
from sealdog.server.kinds.registry import kind_for

_BATCH_INDEX = re.compile(r"^emails\[\d+\]: ")
"""The scorer names an item by its batch position; in an archive its id says more."""

VERDICTS = ScoringOptions(Mode.VERDICT)
"""An archive holds what the inbox would: blinded verdicts, cap-sized slots (a bulk run has
no auditor to verify an attestation against)."""

EMAIL_KIND = "linear"
"""The one kind that scores e-mails; networks score input rows and have no archive to read."""


class BulkModelError(SealdogError):
    """The sealed model cannot score an archive (wrong kind, or refused by validation)."""


def load_for_bulk(data: bytes, *, insecure: bool = False) -> tuple[SealedModel, LoadedModel]:
    """Parse, validate (as the server would at upload) and load a sealed e-mail model.

    `insecure` accepts keys under 2048 bits, like a server started with --insecure-demo."""
    try:
        model = SealedModel.from_bytes(data)
        if model.kind != EMAIL_KIND:
            raise BulkModelError(
                f"this sealed model is a {model.kind!r} model; bulk scoring needs an e-mail "
                f"model (kind {EMAIL_KIND!r})"
            )
        kind = kind_for(model.kind)
        kind.validate(model, demo_mode=insecure, allow_research=False)
        return model, kind.load(model)
    except BulkModelError:
        raise
    except SealdogError as exc:
        raise BulkModelError(f"the sealed model cannot be used: {exc}") from None


def load_validated(data: bytes) -> LoadedModel:
    """Load a sealed model that `load_for_bulk` has already accepted, without validating it
    again: a bulk actor gets the very bytes the driver validated (through Ray's object
    store), and validation (ciphertext range checks, a dry-run packing) is most of the
    ~1 s a 3072-bit model takes to load, paid again by every actor at start-up."""
    model = SealedModel.from_bytes(data)
    return kind_for(model.kind).load(model)


@dataclass
class ScoredBlock:
    """A block's output: verdicts of `ids` (one packed-verdicts JSON) and the set-aside ids."""

    ids: list[str] = field(default_factory=list)
    verdicts: str | None = None
    skipped_ids: list[str] = field(default_factory=list)
    skipped_reasons: list[str] = field(default_factory=list)


def score_block(
    model: LoadedModel,
    ids: Sequence[str],
    raws: Sequence[bytes],
    *,
    max_email_bytes: int,
) -> ScoredBlock:
    """Score one block (see module doc); per-message refusals are set aside, not raised."""
    out = ScoredBlock()
    ids, raws = list(ids), list(raws)
    while ids:
        try:
            result = model.score(EmailBatch(tuple(raws), max_email_bytes), VERDICTS)
        except ScoringInputError as exc:
            if exc.index is None or not 0 <= exc.index < len(ids):
                raise
            out.skipped_ids.append(ids.pop(exc.index))
            out.skipped_reasons.append(f"refused: {_BATCH_INDEX.sub('', str(exc), count=1)}")
            raws.pop(exc.index)
            continue
        out.ids = ids
        out.verdicts = json.dumps(result, separators=(",", ":"))
        break
    return out
