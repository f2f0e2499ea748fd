"""Code that runs inside the scoring processes: validate uploads, load and score models.

Every exception that leaves these functions is a `ModelRejectedError` or a
`ScoringInputError` with a message safe to show the caller; unexpected errors become a
generic 500 in the parent (their details go to the log).
"""

from __future__ import annotations

import logging
import os
import signal
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sealdog.errors import SealdogError
from sealdog.server.kinds import (
    LoadedModel,
    ModelRejectedError,
    ScoreJob,
    ScoringInputError,
    ValidatedModel,
    detect_kind,
    kind_handler,
)

CACHE_SIZE = 8
_cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()


def initialise() -> None:
    """Worker start-up: ignore Ctrl-C (the parent shuts the pool down) and import eagerly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from sealdog.server.kinds import known_kinds

    known_kinds()


def ping() -> int:
    return os.getpid()


def validate_file(path: str, demo_mode: bool, allow_research: bool = False) -> ValidatedModel:
    data = Path(path).read_bytes()
    try:
        kind = detect_kind(data)
        return kind_handler(kind).validate(data, demo_mode=demo_mode, allow_research=allow_research)
    except ModelRejectedError:
        raise
    except SealdogError as exc:
        raise ModelRejectedError(str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ModelRejectedError(f"malformed sealed model ({type(exc).__name__}: {exc})") from None


def _loaded(job: ScoreJob) -> LoadedModel:
    key = (job.path, job.digest)
    model = _cache.get(key)
    if model is not None:
        _cache.move_to_end(key)
        return model
    data = Path(job.path).read_bytes()
    model = kind_handler(job.kind).load(data, expected_digest=job.digest)
    _cache[key] = model
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return model


def score_job(job: ScoreJob) -> dict[str, Any]:
    model = _loaded(job)
    try:
        if job.inputs:
            return model.score_inputs(job.inputs, mode=job.mode)
        return model.score(job.emails, mode=job.mode, max_email_bytes=job.max_email_bytes)
    except ScoringInputError:
        raise
    except SealdogError as exc:
        logging.getLogger("sealdog.server").info("scoring refused: %s", exc)
        raise ScoringInputError(str(exc)) from None
