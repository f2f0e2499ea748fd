"""The tokeniser's memory cap (`featuriser.bounded_tokens`) changes no token a length
filter keeps: checked against the original pattern with a tiny chunk, where every
boundary case (a long word crossing ``' . -``, a symbol right after it) is reachable."""

from __future__ import annotations

import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.mail.featuriser import (
    TOKEN_PATTERN,
    Featuriser,
    FeaturiserSpec,
    bounded_token_pattern,
    bounded_tokens,
)

ORIGINAL = re.compile(TOKEN_PATTERN)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab1_é'.-$€ !\n", max_size=80), st.integers(2, 6))
def test_same_tokens_below_the_chunk(text: str, chunk: int) -> None:
    kept = [t for t in ORIGINAL.findall(text) if len(t) < chunk]
    ours = [t for t in bounded_tokens(text, bounded_token_pattern(chunk), chunk) if len(t) < chunk]
    assert ours == kept


def test_featuriser_tokens_unchanged_on_long_words() -> None:
    featuriser = Featuriser(FeaturiserSpec())
    text = "start " + "x" * 5000 + ".y-z'w $ tail " + "a.b-" * 3000 + "end"
    expected = [t for t in ORIGINAL.findall(text) if 1 <= len(t) <= 40]
    assert featuriser.tokens(text) == expected == ["start", "$", "tail"]


def test_a_ten_megabyte_word_stays_small() -> None:
    code = (
        "import resource\n"
        "from sealdog.mail.featuriser import Featuriser, FeaturiserSpec\n"
        "f = Featuriser(FeaturiserSpec())\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert f.tokens('w' * 10_000_000 + ' ok') == ['ok']\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 128  # MiB growth; the unbounded pattern needs over 1 GB
