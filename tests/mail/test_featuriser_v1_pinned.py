# ruff: noqa: E501  (pinned raw e-mails are kept byte-for-byte on one line each)
"""Featuriser spec version 1 is frozen: old sealed models must score exactly as before.

The expected indices and counts below were computed with the version-1 code BEFORE the
header-aware version 2 was added, and written here by hand. Never regenerate them: if this
test fails, version 1 changed, and every model sealed under it would score differently.
"""

from __future__ import annotations

import json

import pytest

from sealdog.mail.featuriser import Featuriser, FeaturiserSpec

RAWS = {
    "plain": b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Lunch on Friday?\r\nMessage-ID: <1@example.com>\r\n\r\nHi Bob, are we still on for lunch on Friday at 12:30? Alice\r\n",
    "html": (
        b'From: "Deals" <promo@deals.example.biz>\nReply-To: win@other.example.net\nTo: you@example.org\n'
        b"Subject: =?utf-8?q?WIN_A_FREE_PRIZE=21=21=21?=\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/plain; charset=us-ascii\n\n"
        b"Click http://win.deals.example.biz/claim?id=1 now $$$\n--XX\nContent-Type: text/html; charset=utf-8\n\n"
        b'<html><body><p>Click <a href="http://win.deals.example.biz/claim?id=1">HERE</a> now! $$$ 100% free</p></body></html>\n--XX--\n'
    ),
    "mboxline": b"From someone@example.com Mon Jan  1 00:00:00 2001\nFrom: x@y.example\nSubject: caf\xe9 latte\n\nUn caf\xe9 cr\xe8me, s'il vous pla\xeet.\n",
}

SPECS = {
    "default": FeaturiserSpec(),
    "bigrams": FeaturiserSpec(
        n_buckets=4096, ngram_max=2, length_terms=True, max_count=3, hash_key="pin"
    ),
    "nosubject": FeaturiserSpec(n_buckets=1000, subject_terms=False, max_count=1),
}

PINNED = {
    ("default", "plain"): (
        [
            2780,
            3313,
            3922,
            9206,
            12235,
            18648,
            20957,
            28444,
            35430,
            35431,
            39908,
            46033,
            55879,
            58975,
            61385,
            65028,
        ],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1],
    ),
    ("default", "html"): (
        [325, 5490, 6402, 17217, 32925, 39758, 43431, 46081, 51172, 53151, 56086, 56392, 56502],
        [1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1],
    ),
    ("default", "mboxline"): (
        [4028, 5684, 12892, 25137, 28758, 28921, 34975, 40681],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ),
    ("bigrams", "plain"): (
        [
            18,
            31,
            99,
            144,
            231,
            242,
            296,
            314,
            443,
            816,
            842,
            937,
            963,
            1263,
            1330,
            1360,
            1563,
            1768,
            2334,
            2339,
            2453,
            2534,
            2656,
            2658,
            2721,
            2899,
            3169,
            3431,
            3531,
            4003,
        ],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1],
    ),
    ("bigrams", "html"): (
        [
            129,
            316,
            560,
            748,
            893,
            937,
            1191,
            1228,
            1343,
            1636,
            1719,
            2396,
            2481,
            2610,
            2745,
            2936,
            2969,
            3147,
            3568,
            3821,
            3956,
            4047,
        ],
        [1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1],
    ),
    ("bigrams", "mboxline"): (
        [118, 349, 499, 1874, 2427, 2706, 2856, 2875, 2904, 2916, 2932, 3197, 3672, 3676],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ),
    ("nosubject", "plain"): (
        [7, 63, 177, 225, 436, 443, 463, 684, 710, 734, 817, 852, 957],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ),
    ("nosubject", "html"): (
        [53, 56, 114, 143, 462, 508, 593, 673, 814, 864, 942],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ),
    ("nosubject", "mboxline"): ([180, 385, 446, 706, 801, 863, 996], [1, 1, 1, 1, 1, 1, 1]),
}
VOCAB_PINNED = {
    "plain": ([0, 1, 7], [1, 1, 1]),
    "html": ([2, 3, 4, 6], [1, 2, 1, 1]),
    "mboxline": ([5], [1]),
}


V1_DEFAULT_DICT = {
    "format": "sealdog.featuriser",
    "hash_key": "sealdog-v1",
    "length_terms": False,
    "lowercase": True,
    "max_count": 2,
    "max_token_len": 40,
    "min_token_len": 1,
    "mode": "hashing",
    "n_buckets": 65536,
    "ngram_max": 1,
    "subject_terms": True,
    "tokeniser": "sealdog-v1",
    "version": 1,
}


@pytest.mark.parametrize(("spec_name", "raw_name"), sorted(PINNED))
def test_version_1_hashing_features_are_pinned(spec_name: str, raw_name: str) -> None:
    features = Featuriser(SPECS[spec_name]).featurise_email(RAWS[raw_name])
    assert (features.indices.tolist(), features.counts.tolist()) == PINNED[(spec_name, raw_name)]


@pytest.mark.parametrize("raw_name", sorted(VOCAB_PINNED))
def test_version_1_vocabulary_features_are_pinned(raw_name: str) -> None:
    vocab = (
        "s:friday",
        "w:lunch",
        "w:click",
        "w:$",
        "s:free",
        "w:caf\u00e9",
        "s:prize",
        "w:bob",
        "w:zzz",
    )
    features = Featuriser(FeaturiserSpec(mode="vocabulary", vocabulary=vocab)).featurise_email(
        RAWS[raw_name]
    )
    assert (features.indices.tolist(), features.counts.tolist()) == VOCAB_PINNED[raw_name]


def test_a_version_1_spec_dict_from_an_old_sealed_model_still_loads_as_version_1() -> None:
    spec = FeaturiserSpec.from_dict(json.loads(json.dumps(V1_DEFAULT_DICT)))
    assert spec.version == 1
    features = Featuriser(spec).featurise_email(RAWS["plain"])
    assert (features.indices.tolist(), features.counts.tolist()) == PINNED[("default", "plain")]
