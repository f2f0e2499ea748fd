"""The key holder's term map: which training terms fall into each hashing bucket.

A hashing model's weights have no names (the point: the server cannot learn which terms
matter). The key holder has the training mail, so at training time it writes, next to
``model.json``, a ``model.terms.json`` listing for every bucket the training terms that
land in it, most frequent (by the number of training e-mails holding them) first, at most
`TERMS_PER_BUCKET`. `sealdog audit` uses it to name the buckets the model reacts to.

It is a key-holder-side file, like the plaintext model: it is never sealed, never uploaded,
and it reveals words, sender domains and link hosts of the training mail, so it is written
with mode 0600. It is bound to the model's featuriser spec (a digest of the spec's
canonical JSON): a map made for another spec is refused, not silently misapplied.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealdog.errors import SealdogError
from sealdog.fileio import atomic_write_text
from sealdog.mail.featuriser import Featuriser, FeaturiserSpec

TERM_MAP_FORMAT = "sealdog-term-map"
TERM_MAP_VERSION = 1
TERMS_PER_BUCKET = 5


class TermMapError(SealdogError):
    """A term map file is missing, malformed or made for another featuriser spec."""


def spec_digest(spec: FeaturiserSpec) -> str:
    """SHA-256 of the spec's canonical JSON: what a term map is bound to."""
    canonical = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def term_map_path(model_path: str | os.PathLike[str]) -> Path:
    """``model.json`` -> ``model.terms.json`` (same folder)."""
    path = Path(model_path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(stem + ".terms.json")


@dataclass(frozen=True)
class TermMap:
    """Bucket -> ``[(term, e-mails holding it), ...]``, most frequent first."""

    spec_digest: str
    buckets: Mapping[int, Sequence[tuple[str, int]]]

    def name(self, index: int, shown: int = 2) -> str | None:
        """The bucket's most frequent terms, ``"w:free | s:free ..."``, or None if unknown."""
        terms = self.buckets.get(index)
        if not terms:
            return None
        head = " | ".join(t for t, _ in terms[:shown])
        return head + (" ..." if len(terms) > shown else "")

    @classmethod
    def build(
        cls,
        featuriser: Featuriser,
        term_lists: Iterable[Sequence[str]],
        per_bucket: int = TERMS_PER_BUCKET,
    ) -> TermMap:
        """The map of a hashing (or vocabulary) featuriser over the training terms."""
        df: Counter[str] = Counter()
        for terms in term_lists:
            df.update(set(terms))
        grouped: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for term, n in df.items():
            found = featuriser.index_terms([term]).indices
            if len(found):
                grouped[int(found[0])].append((term, n))
        buckets = {
            b: tuple(sorted(items, key=lambda item: (-item[1], item[0]))[:per_bucket])
            for b, items in grouped.items()
        }
        return cls(spec_digest(featuriser.spec), buckets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TERM_MAP_FORMAT,
            "version": TERM_MAP_VERSION,
            "spec_digest": self.spec_digest,
            "buckets": {
                str(b): [[t, n] for t, n in terms] for b, terms in sorted(self.buckets.items())
            },
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomic, mode 0600 (it holds words of the training mail)."""
        atomic_write_text(
            path, json.dumps(self.to_dict(), separators=(",", ":")) + "\n", mode=0o600
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], spec: FeaturiserSpec) -> TermMap:
        """Read a term map and check that it was made for `spec`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise TermMapError(f"no term map at {path}") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TermMapError(f"cannot read term map {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != TERM_MAP_FORMAT:
            raise TermMapError(f"{path} is not a Sealdog term map")
        if data.get("version") != TERM_MAP_VERSION:
            raise TermMapError(f"{path}: unsupported term map version {data.get('version')!r}")
        if data.get("spec_digest") != spec_digest(spec):
            raise TermMapError(f"{path} was made for another featuriser spec than this model's")
        try:
            buckets = {
                int(b): tuple((str(t), int(n)) for t, n in terms)
                for b, terms in data["buckets"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TermMapError(f"malformed term map {path}: {exc}") from exc
        return cls(str(data["spec_digest"]), buckets)
