"""The featuriser: e-mail text to sparse small-integer feature counts, one implementation for
trainer and server.

A `FeaturiserSpec` (JSON-safe, versioned) travels inside the sealed model; the server
rebuilds the identical `Featuriser` from it, so a score computed under encryption on the
server uses exactly the features the model was trained on.

Terms. The text is lower-cased and split by one named regular expression (`TOKENISERS`;
default ``sealdog-v1``: letters/digits with inner ``'``, ``.``, ``-``, and the symbols
``$ ! % € £``) into tokens. From the
tokens the featuriser makes these *terms*:

- ``w:<token>``      a body word;
- ``s:<token>``      a subject word (subject and body words are different features);
- ``b:<t1> <t2>``    a body bigram (if ``ngram_max`` is 2);
- ``n:<k>``          the message length class: ``k = bit_length(number of body tokens)``,
  one indicator per power of two, because presence features alone cannot see length.

Two modes map terms to feature indices:

- ``vocabulary``: a term list fitted on the training corpus; index = position in the
  list. **The list travels in clear inside the sealed model**, so the server learns every
  term the model has a weight for (not the weights, not their signs). With
  ``min_df``-filtered vocabularies that is a large, generic word list, but a small or
  hand-picked vocabulary does reveal what the model looks for.
- ``hashing``: each term goes to bucket ``blake2b(key || term) mod n_buckets``; every
  bucket has a sealed weight, so the server learns nothing about which terms matter
  (only the public spec: tokeniser settings, bucket count and hash key). The cost is
  collisions (a little accuracy) and a sealed model with ``n_buckets`` ciphertexts.

Counts are the number of occurrences, clipped to ``max_count`` (1 = presence), so they are
small positive integers, as the encrypted dot product needs.

Spec versions. **Version 1** (the default) makes exactly the terms above from subject and
body; it is frozen (tests/mail/test_featuriser_v1_pinned.py), so every model sealed under
it scores exactly as before, and its spec dict has no ``families`` key. **Version 2**
(`FeaturiserSpec.header_aware`, `HEADER_SPEC_VERSION`) makes the same subject and body
terms and then the terms of the *term families* listed in the spec's ``families``
(`FAMILIES`, each switchable on its own), read from the headers and MIME structure of the
raw e-mail (`sealdog.mail.message.parse_email`; implemented in
`sealdog.mail.header_terms`). A version-2 spec with families can only featurise raw
e-mail (`email_terms`, `featurise_email`); the text entry points refuse it rather than
silently leave the families out. A "class" below is ``bit_length`` of a count, capped
(0, 1, 2-3, 4-7, ...). Each family, and what it reveals to the server **in vocabulary
mode** (the vocabulary lists the terms the model has a weight for; in hashing mode, the
default, the server learns only which families are on, from the spec):

- ``sender`` -- ``from.domain:<d>`` and ``from.reg:<registered domain>`` of the From
  address, ``from.reply-to-domain:``/``from.reply-to-reg:`` of Reply-To, ``from.none`` (no
  From address), ``from.recipients:<class of To+Cc addresses>`` (capped at 6),
  ``from.mismatch:reply-to`` / ``from.mismatch:return-path`` (registered domain differs
  from From's), ``from.mismatch:display-name`` (the display name holds an address other
  than the sender's). Reveals: the sender domains frequent in the training mail (whose
  mail the key holder receives: correspondents, employers, banks, lists), a privacy cost
  much like body words but more identifying; keep vocabulary mode off for private mail.
- ``urls`` -- ``url.host:<host>`` and ``url.reg:<registered domain>`` for each distinct
  link host in the text and HTML parts (never paths or queries), ``url.ip`` (a link to an
  IPv4 address), ``url.links:<class of distinct URLs>``. Reveals: the web sites linked
  from the training mail.
- ``mime`` -- ``mime.body:plain|html-only|both|none``, ``mime.parts:<class>``,
  ``mime.type:<type/subtype>`` per content type present (unknown top-level types become
  ``other``), ``mime.attachments:<class>``, ``mime.attachment:<file extension>`` (1-8
  letters/digits, else ``noext``), ``mime.html-tag-ratio:<class of 4*tags/(words+1)>``.
  Reveals: which formats and attachment types the training mail had (little).
- ``encoding`` -- ``enc.charset:<Python codec name>`` (unknown charsets: ``unknown``),
  ``enc.cte:<7bit|8bit|binary|base64|quoted-printable|other>``, ``enc.bad-charset``
  (declared charset does not decode the part), ``enc.undeclared-8bit``,
  ``enc.8bit-headers``, ``enc.text-base64``, ``enc.encoded-subject:b|q``,
  ``enc.encoded-from:b|q``, ``enc.unparsable``. Reveals: the languages/charsets of the
  training mail, coarsely.
- ``subject`` -- ``subj.caps:few|some|most|all|short`` (share of capitals among the
  letters), ``subj.punct:<class of ! and ?>``, ``subj.money`` ($ or %),
  ``subj.prefix:re|fwd``, ``subj.empty``. Reveals: nothing beyond these fixed names.
- ``headers`` -- ``hdr.mailer:<family>`` (X-Mailer or User-Agent mapped onto the fixed
  `header_terms.MAILER_FAMILIES` list, else ``other``/``none``: the value itself never
  becomes a term), ``hdr.has:<name>`` for the fixed `header_terms.PRESENCE_HEADERS`,
  ``hdr.no:<name>`` for `header_terms.REQUIRED_HEADERS`, ``hdr.priority:high``,
  ``hdr.precedence:bulk|list|junk|other``, ``hdr.received:<class of Received headers>``,
  ``hdr.message-id-domain:from|other``. Reveals: only which of these fixed names matter.

Domains and attachment extensions are the only sender-chosen strings a family term can
carry; all family terms start with a family prefix and a dot, so they never equal a
version-1 term.

Determinism: only the standard library (`re`, `str.lower`, `hashlib.blake2b`) and NumPy
are used, no process-dependent hashing; the same spec gives the same features on every
machine with the same Unicode database (a property of the Python minor version).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from sealdog.mail.errors import FeaturiserSpecError
from sealdog.mail.header_terms import FAMILY_TERMS
from sealdog.mail.limits import DEFAULT_LIMITS, Cap, MailLimits
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES, EmailText, email_parts, parse_email

SPEC_FORMAT = "sealdog.featuriser"
SPEC_VERSION = 1
"""The version a spec gets by default: subject and body words only (frozen, see module doc)."""
HEADER_SPEC_VERSION = 2
"""The header-aware version: version 1's terms plus the `FAMILIES` the spec switches on."""
SPEC_VERSIONS = (SPEC_VERSION, HEADER_SPEC_VERSION)
FAMILIES: tuple[str, ...] = tuple(FAMILY_TERMS)
"""Term families of version 2, in the order their terms are made (see module doc)."""
MODES = ("vocabulary", "hashing")
_BUCKET_CACHE_SIZE = 200_000  # terms; bounds the memory a long-running server spends on it
TOKEN_PATTERN = r"[^\W_](?:[^\W_]|['.\-](?=[^\W_]))*|[$!%\u20ac\u00a3]"
"""Word tokens (letters/digits with inner ' . -) and the symbols $ ! % EUR GBP."""
TOKENISERS: dict[str, str] = {
    "sealdog-v1": TOKEN_PATTERN,
    "sklearn-default": r"(?u)\b\w\w+\b",
}
"""Named token patterns. A spec names one (never carries a regex), so a sealed model cannot
make the server run an arbitrary, possibly catastrophic, regular expression.
`sklearn-default` is scikit-learn's CountVectorizer default, for imported pipelines."""


_TOKEN_CHUNK = 1024
_SYMBOLS = "$!%\u20ac\u00a3"


def bounded_token_pattern(chunk: int) -> re.Pattern[str]:
    """`TOKEN_PATTERN` with its repetition capped: a match is at most `chunk` characters."""
    word = r"[^\W_](?:[^\W_]|['.\-](?=[^\W_])){0," + str(chunk - 1) + "}"
    return re.compile(word + r"|[$!%\u20ac\u00a3]")


_BOUNDED_TOKEN_RE = bounded_token_pattern(_TOKEN_CHUNK)


def bounded_tokens(text: str, pattern: re.Pattern[str], chunk: int) -> list[str]:
    """``TOKEN_PATTERN.findall(text)``, except that a token longer than `chunk` characters
    comes out as its first `chunk` characters (so a length filter below `chunk` drops it
    exactly as before). Why: ``re`` keeps state per repetition of the token's group, so one
    10 MB "word" cost over 1 GB; capped matches keep that memory per match bounded. The
    pieces after a capped match (it continues at the next character, or after one
    ``' . -`` that the original pattern would have crossed) are recognised and skipped.

    Fast path: with no match of `chunk` characters there is nothing to skip, so the C-level
    ``findall`` is the answer (a 10 MiB plain part: 1.6 M matches, no Python per match)."""
    found: list[str] = pattern.findall(text)
    if not found or max(map(len, found)) < chunk:
        return found
    out: list[str] = []
    prev_end, prev_capped = -2, False
    for m in pattern.finditer(text):
        start, end = m.span()
        if (
            prev_capped
            and text[start] not in _SYMBOLS
            and (start == prev_end or (start == prev_end + 1 and text[prev_end] in "'.-"))
        ):
            prev_end, prev_capped = end, end - start == chunk
            continue
        out.append(m.group())
        prev_end, prev_capped = end, end - start == chunk and text[start] not in _SYMBOLS
    return out


class SparseFeatures(NamedTuple):
    """Non-zero features of one e-mail: sorted unique `indices`, `counts` in 1..max_count."""

    indices: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class EmailFeatures:
    """Features of one raw e-mail and the parsing caps it hit (`MailLimits`).

    `truncated` is what a server reports to the key holder next to the verdict: the
    features describe only the part of the e-mail that was read."""

    features: SparseFeatures
    caps_hit: frozenset[Cap]

    @property
    def truncated(self) -> bool:
        return bool(self.caps_hit)


@dataclass(frozen=True)
class FeaturiserSpec:
    """Everything needed to rebuild a `Featuriser`; see the module doc for the term scheme.

    Invariants (checked by `validate`): mode is ``vocabulary`` with a non-empty list of
    distinct terms, or ``hashing`` with ``n_buckets >= 1``; ``1 <= max_count``.
    """

    mode: str = "hashing"
    tokeniser: str = "sealdog-v1"
    n_buckets: int = 2**16
    hash_key: str = "sealdog-v1"
    vocabulary: tuple[str, ...] = ()
    max_count: int = 2
    ngram_max: int = 1
    subject_terms: bool = True
    length_terms: bool = False
    min_token_len: int = 1
    max_token_len: int = 40
    lowercase: bool = True
    families: tuple[str, ...] = ()
    version: int = field(default=SPEC_VERSION)

    @classmethod
    def header_aware(cls, families: Sequence[str] = FAMILIES, **fields: Any) -> FeaturiserSpec:
        """A version-2 spec with the given term `families` (default: all of them)."""
        return cls(version=HEADER_SPEC_VERSION, families=tuple(families), **fields).validate()

    def validate(self) -> FeaturiserSpec:
        """Return self if consistent, else raise `FeaturiserSpecError` saying what is wrong."""
        problems: list[str] = []
        if self.version not in SPEC_VERSIONS:
            expected = " or ".join(str(v) for v in SPEC_VERSIONS)
            problems.append(f"version {self.version!r} is not supported (expected {expected})")
        if not isinstance(self.families, tuple) or not all(
            isinstance(f, str) for f in self.families
        ):
            problems.append("families must be a list of family names")
        else:
            unknown = [f for f in self.families if f not in FAMILIES]
            if unknown:
                problems.append(f"unknown term families {unknown} (known: {', '.join(FAMILIES)})")
            if len(set(self.families)) != len(self.families):
                problems.append("families contains duplicates")
            if self.families and self.version == SPEC_VERSION:
                problems.append(f"term families need spec version {HEADER_SPEC_VERSION}")
        if self.tokeniser not in TOKENISERS:
            problems.append(f"tokeniser {self.tokeniser!r} is not one of {', '.join(TOKENISERS)}")
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "hashing":
            if (
                not isinstance(self.n_buckets, int)
                or isinstance(self.n_buckets, bool)
                or self.n_buckets < 1
            ):
                problems.append(f"n_buckets must be a positive integer, got {self.n_buckets!r}")
            if not isinstance(self.hash_key, str) or len(self.hash_key.encode("utf-8")) > 64:
                problems.append("hash_key must be a string of at most 64 UTF-8 bytes")
        if self.mode == "vocabulary":
            if not self.vocabulary:
                problems.append("vocabulary mode needs a non-empty vocabulary")
            elif not all(isinstance(t, str) for t in self.vocabulary):
                problems.append("vocabulary terms must be strings")
            elif len(set(self.vocabulary)) != len(self.vocabulary):
                problems.append("vocabulary contains duplicate terms")
        for name in ("max_count", "ngram_max", "min_token_len", "max_token_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.ngram_max, int) and self.ngram_max > 2:
            problems.append(f"ngram_max must be 1 or 2, got {self.ngram_max}")
        if (
            isinstance(self.min_token_len, int)
            and isinstance(self.max_token_len, int)
            and self.min_token_len > self.max_token_len
        ):
            problems.append("min_token_len is larger than max_token_len")
        for name in ("subject_terms", "length_terms", "lowercase"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false")
        if problems:
            raise FeaturiserSpecError("invalid featuriser spec: " + "; ".join(problems))
        return self

    @property
    def n_features(self) -> int:
        return len(self.vocabulary) if self.mode == "vocabulary" else self.n_buckets

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, tagged with format and version; vocabulary only in vocabulary mode."""
        data = asdict(self)
        data["vocabulary"] = list(self.vocabulary)
        data["families"] = list(self.families)
        if self.version == SPEC_VERSION:
            data.pop("families")  # version-1 specs keep their exact historical form
        if self.mode == "vocabulary":
            data.pop("n_buckets")
            data.pop("hash_key")
        else:
            data.pop("vocabulary")
        return {"format": SPEC_FORMAT, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeaturiserSpec:
        """Rebuild and validate a spec from `to_dict` output; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise FeaturiserSpecError(
                f"featuriser spec must be a JSON object, got {type(data).__name__}"
            )
        fields = dict(data)
        fmt = fields.pop("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise FeaturiserSpecError(
                f"not a featuriser spec (format {fmt!r}, expected {SPEC_FORMAT!r})"
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        if unknown:
            raise FeaturiserSpecError(f"invalid featuriser spec: unknown fields {unknown}")
        if "vocabulary" in fields:
            vocab = fields["vocabulary"]
            if not isinstance(vocab, (list, tuple)):
                raise FeaturiserSpecError("invalid featuriser spec: vocabulary must be a list")
            fields["vocabulary"] = tuple(vocab)
        if "families" in fields:
            families = fields["families"]
            if not isinstance(families, (list, tuple)):
                raise FeaturiserSpecError("invalid featuriser spec: families must be a list")
            fields["families"] = tuple(families)
        try:
            spec = cls(**fields)
        except TypeError as exc:
            raise FeaturiserSpecError(f"invalid featuriser spec: {exc}") from exc
        return spec.validate()


class Featuriser:
    """Text to `SparseFeatures` under one `FeaturiserSpec`; stateless apart from a term cache."""

    def __init__(self, spec: FeaturiserSpec) -> None:
        self.spec = spec.validate()
        self._token_re = re.compile(TOKENISERS[spec.tokeniser])
        self._bounded = spec.tokeniser == "sealdog-v1" and spec.max_token_len < _TOKEN_CHUNK
        self._index: dict[str, int] = (
            {term: i for i, term in enumerate(spec.vocabulary)} if spec.mode == "vocabulary" else {}
        )
        self._hash_key = spec.hash_key.encode("utf-8")
        self._bucket_cache: dict[str, int] = {}

    @classmethod
    def from_spec(cls, spec: FeaturiserSpec | Mapping[str, Any]) -> Featuriser:
        if isinstance(spec, FeaturiserSpec):
            return cls(spec)
        return cls(FeaturiserSpec.from_dict(spec))

    @property
    def n_features(self) -> int:
        return self.spec.n_features

    @property
    def max_count(self) -> int:
        return self.spec.max_count

    # -- terms ---------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """Word and symbol tokens of `text`, in order, after lower-casing and length filtering."""
        if self.spec.lowercase:
            text = text.lower()
        lo, hi = self.spec.min_token_len, self.spec.max_token_len
        if self._bounded:
            return [
                t
                for t in bounded_tokens(text, _BOUNDED_TOKEN_RE, _TOKEN_CHUNK)
                if lo <= len(t) <= hi
            ]
        return [t for t in self._token_re.findall(text) if lo <= len(t) <= hi]

    @property
    def needs_raw_email(self) -> bool:
        """True if the spec has term families, which only a raw e-mail can give."""
        return bool(self.spec.families)

    def terms(self, parts: EmailText) -> list[str]:
        """Subject and body terms of an e-mail (see module doc).

        Raises `FeaturiserSpecError` if the spec has term families: those need headers and
        structure, so use `email_terms(raw)`, never a silently incomplete term list.
        """
        if self.spec.families:
            raise FeaturiserSpecError(
                "this featuriser spec has header term families: featurise the raw e-mail "
                "(email_terms / featurise_email), not its text"
            )
        return self._text_terms(parts)

    def email_terms(
        self,
        raw: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
        limits: MailLimits = DEFAULT_LIMITS,
    ) -> list[str]:
        """All term occurrences of a raw e-mail under this spec; the trainer's and the
        server's one entry point. Raises `EmailTooLargeError` above `max_bytes`; parsing is
        capped by `limits` (use `email_terms_checked` to learn whether a cap was hit)."""
        return self.email_terms_checked(raw, max_bytes=max_bytes, limits=limits)[0]

    def email_terms_checked(
        self,
        raw: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
        limits: MailLimits = DEFAULT_LIMITS,
    ) -> tuple[list[str], frozenset[Cap]]:
        """`email_terms` and the caps the e-mail hit (empty for ordinary mail)."""
        if not self.spec.families:
            parts = email_parts(raw, max_bytes=max_bytes, limits=limits)
            return self._text_terms(parts), parts.caps_hit
        parsed = parse_email(raw, max_bytes=max_bytes, limits=limits)
        out = self._text_terms(parsed.text)
        for family in FAMILIES:
            if family in self.spec.families:
                out.extend(FAMILY_TERMS[family](parsed))
        return out, parsed.caps_hit

    def _text_terms(self, parts: EmailText) -> list[str]:
        body = self.tokens(parts.body)
        if self.spec.subject_terms:
            subject = self.tokens(parts.subject)
            out = ["s:" + t for t in subject]
        else:
            body = self.tokens(parts.subject) + body
            out = []
        out.extend("w:" + t for t in body)
        if self.spec.ngram_max >= 2:
            out.extend(f"b:{a} {b}" for a, b in pairwise(body))
        if self.spec.length_terms:
            out.append(f"n:{len(body).bit_length()}")
        return out

    # -- indices -------------------------------------------------------------------------

    def _bucket(self, term: str) -> int:
        bucket = self._bucket_cache.get(term)
        if bucket is None:
            digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8, key=self._hash_key)
            bucket = int.from_bytes(digest.digest(), "little") % self.spec.n_buckets
            if len(self._bucket_cache) < _BUCKET_CACHE_SIZE:
                self._bucket_cache[term] = bucket
        return bucket

    def index_terms(self, terms: Iterable[str]) -> SparseFeatures:
        """Map term occurrences to sorted unique indices with counts clipped to max_count."""
        counts: Counter[int] = Counter()
        if self.spec.mode == "vocabulary":
            index = self._index
            for term in terms:
                i = index.get(term)
                if i is not None:
                    counts[i] += 1
        else:
            bucket = self._bucket
            for term in terms:
                counts[bucket(term)] += 1
        if not counts:
            return SparseFeatures(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        order = np.argsort(indices, kind="stable")
        return SparseFeatures(indices[order], np.minimum(values[order], self.spec.max_count))

    def featurise_parts(self, parts: EmailText) -> SparseFeatures:
        return self.index_terms(self.terms(parts))

    def featurise(self, text: str) -> SparseFeatures:
        """Features of `email_to_text` output (a leading ``Subject:`` line is the subject)."""
        return self.featurise_parts(EmailText.from_text(text))

    def featurise_email(
        self,
        raw: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
        limits: MailLimits = DEFAULT_LIMITS,
    ) -> SparseFeatures:
        """Features of a raw e-mail; raises `EmailTooLargeError` above `max_bytes`."""
        return self.featurise_email_checked(raw, max_bytes=max_bytes, limits=limits).features

    def featurise_email_checked(
        self,
        raw: bytes,
        *,
        max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
        limits: MailLimits = DEFAULT_LIMITS,
    ) -> EmailFeatures:
        """Features of a raw e-mail and the caps it hit: what a server scores and reports
        (``"truncated": true`` when `EmailFeatures.truncated`)."""
        terms, caps = self.email_terms_checked(raw, max_bytes=max_bytes, limits=limits)
        return EmailFeatures(self.index_terms(terms), caps)


def fit_vocabulary(
    term_lists: Iterable[Sequence[str]], *, min_df: int = 2, max_terms: int | None = None
) -> tuple[str, ...]:
    """Terms in at least `min_df` documents, most frequent first (ties by term), capped.

    The result is sorted alphabetically so the vocabulary (and its indices) does not
    depend on the corpus order beyond which terms were kept.
    """
    df: Counter[str] = Counter()
    for terms in term_lists:
        df.update(set(terms))
    kept = [(n, t) for t, n in df.items() if n >= min_df]
    kept.sort(key=lambda item: (-item[0], item[1]))
    if max_terms is not None:
        kept = kept[:max_terms]
    return tuple(sorted(t for _, t in kept))
