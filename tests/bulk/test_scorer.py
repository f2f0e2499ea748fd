"""A bulk worker scores with the server's code: exact against the plaintext model, and one
refused e-mail never loses the rest of its block."""

from __future__ import annotations

import json

import pytest

from sealdog.bulk.scorer import BulkModelError, load_for_bulk, load_validated, score_block
from sealdog.client.demo_model import plaintext_verdicts
from sealdog.client.keyfiles import open_secret_key
from sealdog.crypto.paillier import EncryptedVerdicts, decrypt_verdicts


def test_verdicts_equal_the_plaintext_model_and_a_refused_mail_is_set_aside(bulk) -> None:
    _, model = load_for_bulk(bulk.sealed.read_bytes(), insecure=True)
    names = sorted(bulk.raw_by_name)[:40]
    raws = [bulk.raw_by_name[n] for n in names]
    too_big = b"Subject: big\n\n" + b"x" * 5000
    ids = [*names[:10], "big.eml", *names[10:]]
    result = score_block(model, ids, [*raws[:10], too_big, *raws[10:]], max_email_bytes=4096)
    assert result.skipped_ids == ["big.eml"]
    assert result.skipped_reasons == [
        "refused: e-mail is 5,014 bytes, above the 4,096-byte cap; raise the cap (max_bytes / "
        "--max-email-bytes) if such messages are expected"
    ]
    assert result.ids == names
    sk = open_secret_key(bulk.secret_key)
    got = decrypt_verdicts(sk, EncryptedVerdicts.from_json(json.loads(result.verdicts)))
    assert got == plaintext_verdicts(bulk.plain_model, raws, workers=1)


def test_small_keys_need_the_insecure_flag(bulk) -> None:
    with pytest.raises(BulkModelError, match="2048"):
        load_for_bulk(bulk.sealed.read_bytes())


def test_a_model_that_does_not_score_mail_is_refused(bulk) -> None:
    from sealdog.sealed_model import SealedModel

    manifest = SealedModel.read(bulk.sealed).manifest_dict()
    del manifest["digest"]
    manifest["kind"] = "xor"
    network = SealedModel(manifest, SealedModel.read(bulk.sealed).payload).to_bytes()
    with pytest.raises(BulkModelError, match="is a 'xor' model"):
        load_for_bulk(network, insecure=True)
    with pytest.raises(BulkModelError, match="cannot be used"):
        load_for_bulk(b"not a sealed model", insecure=True)


def test_an_actor_loads_the_validated_bytes_and_scores_them_exactly(bulk) -> None:
    # The driver validates once (load_for_bulk); the actors load the same bytes without
    # validating again, and their verdicts equal the plaintext model's.
    data = bulk.sealed.read_bytes()
    load_for_bulk(data, insecure=True)
    model = load_validated(data)
    names = sorted(bulk.raw_by_name)[:30]
    raws = [bulk.raw_by_name[n] for n in names]
    result = score_block(model, names, raws, max_email_bytes=1 << 20)
    assert result.ids == names and not result.skipped_ids
    sk = open_secret_key(bulk.secret_key)
    got = decrypt_verdicts(sk, EncryptedVerdicts.from_json(json.loads(result.verdicts)))
    assert got == plaintext_verdicts(bulk.plain_model, raws, workers=1)
