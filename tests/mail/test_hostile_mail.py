"""Every hostile construction of issue 13, at and far past its cap, parses and featurises
within a time and memory budget, and is flagged when a cap cut it.

Each construction runs in a fresh subprocess (so its peak RSS is its own): CPU time per
message and the process's peak RSS growth are measured there. The budgets are generous
(the assertion is "bounded", not a speed target: see bench/hostile_mail.py): before issue
13, ``<!--`` x 1 MiB took over 120 s and 1 MiB of encoded words 12.8 GB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import CONSTRUCTIONS, build, ordinary

from sealdog.mail.featuriser import Featuriser, FeaturiserSpec
from sealdog.mail.limits import Cap, MailLimits

MIB = 1024 * 1024
CPU_BUDGET_S = 2.0
RSS_BUDGET_MIB = 256
SIZES = (64 * 1024, MIB, 10 * MIB)
SERVER_LIKE = MailLimits(max_part_bytes=MIB)

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {tests!r})
from hostile_corpus import build
from sealdog.mail.featuriser import Featuriser, FeaturiserSpec
from sealdog.mail.limits import MailLimits
featurisers = [Featuriser(FeaturiserSpec.header_aware())]  # parses as v1 does, and more
limits = MailLimits(max_part_bytes={part})
build("long_line", 1024)  # warm up imports before the baseline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = []
for size in {sizes!r}:
    raw = build({name!r}, size)
    for f in featurisers:
        start = time.process_time()
        result = f.featurise_email_checked(raw, max_bytes=16 * 1024 * 1024, limits=limits)
        out.append({{"size": size, "cpu_s": time.process_time() - start,
                     "caps": sorted(result.caps_hit), "nnz": len(result.features.indices)}})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"runs": out, "rss_growth_mib": (peak - base) / 1024}}))
"""


def _run_child(name: str) -> dict[str, object]:
    tests = str(Path(__file__).parent)
    code = _CHILD.format(tests=tests, part=MIB, sizes=SIZES, name=name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", sorted(CONSTRUCTIONS))
def test_each_construction_is_bounded_in_time_and_memory(name: str) -> None:
    result = _run_child(name)
    runs = result["runs"]
    assert isinstance(runs, list) and len(runs) == len(SIZES)
    for run in runs:
        assert run["cpu_s"] < CPU_BUDGET_S, (name, run)
        assert run["nnz"] >= 1, (name, run)  # something was read, nothing raised
    assert result["rss_growth_mib"] < RSS_BUDGET_MIB, (name, result)


EXPECTED_CAPS = {
    "comments": {Cap.HTML_CHARS},
    "unclosed_tags": {Cap.HTML_CHARS},
    "unclosed_quotes": {Cap.HTML_CHARS},
    "html_tags": {Cap.HTML_CHARS},
    "void_elements": {Cap.HTML_CHARS},
    "mime_params": {Cap.HEADER_BYTES},
    "folded_params": {Cap.HEADER_BYTES},
    "folded_header": {Cap.HEADER_BYTES},
    "long_header": {Cap.HEADER_BYTES},
    "header_fields": {Cap.HEADER_FIELDS},
    "encoded_words": {Cap.HEADER_BYTES},
    "many_parts": {Cap.PARTS},
    "deep_nesting": {Cap.DEPTH},
    "bad_charsets": {Cap.PARTS},
    "nested_comments": {Cap.HEADER_BYTES},
    "angle_brackets": {Cap.HEADER_BYTES},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_CAPS))
def test_one_mib_of_each_construction_is_flagged_with_the_cap_it_hit(name: str) -> None:
    featuriser = Featuriser(FeaturiserSpec.header_aware())
    result = featuriser.featurise_email_checked(build(name, MIB), limits=SERVER_LIKE)
    assert result.truncated
    assert EXPECTED_CAPS[name] <= result.caps_hit


@pytest.mark.parametrize(
    ("name", "size", "cap"),
    [
        ("mime_params", 8 * 1024, Cap.MIME_FIELD),
        ("folded_params", 8 * 1024, Cap.MIME_FIELD),
        ("encoded_words", 8 * 1024, Cap.SUBJECT_CHARS),
        ("folded_header", 8 * 1024, Cap.SUBJECT_CHARS),
        ("long_header", 100 * 1024, Cap.FIELD_CHARS),
    ],
)
def test_a_field_just_past_its_own_cap_is_cut_not_dropped(name: str, size: int, cap: Cap) -> None:
    result = Featuriser(FeaturiserSpec()).featurise_email_checked(build(name, size))
    assert result.caps_hit == {cap}


def test_text_before_the_hostile_part_is_still_read() -> None:
    raw = build("comments", MIB).replace(b"<p>hello</p>", b"<p>greetings traveller</p>")
    words = Featuriser(FeaturiserSpec(mode="vocabulary", vocabulary=("w:greetings",)))
    assert list(words.featurise_email(raw).indices) == [0]


def test_deeply_nested_address_comments_do_not_raise() -> None:
    # Before issue 13: RecursionError from email.utils.parseaddr, out of featurise_email.
    raw = b"From: " + b"(" * 4000 + b"\nTo: a@example.org\nSubject: s\n\nbody\n"
    terms = Featuriser(FeaturiserSpec.header_aware()).email_terms(raw)
    assert "from.none" in terms and "from.recipients:1" in terms


def test_ordinary_mail_is_not_flagged() -> None:
    result = Featuriser(FeaturiserSpec.header_aware()).featurise_email_checked(ordinary(MIB // 4))
    assert not result.truncated and result.caps_hit == frozenset()
