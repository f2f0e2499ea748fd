"""Code that runs inside the scoring processes: validate uploads, load and score models.

Every sealed-model file is parsed once (`open_container`, digest checked) and handed to the
kind its manifest names (`kinds.registry`). Every exception that leaves these functions is a
`ModelRejectedError` or a `ScoringInputError` with a message safe to show the caller;
unexpected errors become a generic 500 in the parent (their details go to the log).
"""

from __future__ import annotations

import logging
import os
import signal
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sealdog.errors import SealdogError
from sealdog.server.kinds.base import (
    LoadedModel,
    ModelRejectedError,
    ScoreJob,
    ScoringInputError,
    ValidatedModel,
    open_container,
)
from sealdog.server.kinds.registry import kind_for

CACHE_SIZE = 8
_cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()


def initialise() -> None:
    """Worker start-up: ignore Ctrl-C (the parent shuts the pool down). Importing this
    module imported every kind already."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ping() -> int:
    return os.getpid()


def validate_file(path: str, demo_mode: bool, allow_research: bool = False) -> ValidatedModel:
    data = Path(path).read_bytes()
    try:
        model = open_container(data)
        kind = kind_for(model.kind)
        return kind.validate(model, demo_mode=demo_mode, allow_research=allow_research)
    except ModelRejectedError:
        raise
    except SealdogError as exc:
        raise ModelRejectedError(str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ModelRejectedError(f"malformed sealed model ({type(exc).__name__}: {exc})") from None


def _loaded(job: ScoreJob) -> LoadedModel:
    key = (job.path, job.digest)
    loaded = _cache.get(key)
    if loaded is not None:
        _cache.move_to_end(key)
        return loaded
    model = open_container(Path(job.path).read_bytes())
    if model.digest != job.digest or model.kind != job.kind:
        raise ModelRejectedError("stored sealed model does not match its registered digest")
    loaded = kind_for(model.kind).load(model)
    _cache[key] = loaded
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return loaded


def score_job(job: ScoreJob) -> dict[str, Any]:
    model = _loaded(job)
    try:
        return model.score(job.batch, mode=job.mode)
    except ScoringInputError:
        raise
    except SealdogError as exc:
        logging.getLogger("sealdog.server").info("scoring refused: %s", exc)
        raise ScoringInputError(str(exc)) from None
