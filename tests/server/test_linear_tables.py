"""A loaded linear model learns its frequent buckets from traffic, then scores through
subset-product tables: the verdicts and exact scores are what the plain path gives."""

from __future__ import annotations

from server_testkit import HAM, NEUTRAL, SPAM, Keys, expected_score

from sealdog.crypto.paillier import EncryptedVerdicts, decrypt_scores, decrypt_verdicts
from sealdog.crypto.paillier.subset_products import LearnedTables
from sealdog.protocol import Mode
from sealdog.sealed_model import SealedModel
from sealdog.server.kinds.base import EmailBatch, ScoringOptions
from sealdog.server.kinds.linear import LinearModel

MAIL = (SPAM, HAM, NEUTRAL, SPAM + b" winner offer", HAM + b" free")


def test_tables_are_learned_from_traffic_and_change_no_result(
    keys: Keys, sealed: SealedModel
) -> None:
    model = LinearModel(sealed)
    model._tables = LearnedTables(
        model.sealed.weights, model.sealed.public_key.nsquare, learn_emails=4, group_bits=3
    )
    batch = EmailBatch(MAIL, max_email_bytes=1 << 20)
    scale = 2**model.sealed.scale_bits
    scores = [round(expected_score(raw) * scale) for raw in MAIL]
    results = []
    for _ in range(3):  # before, when and after the tables are built
        for mode in (Mode.VERDICT, Mode.SCORE):
            ev = EncryptedVerdicts.from_json(model.score(batch, ScoringOptions(mode)))
            results.append((mode, ev))
        # built once the first call has counted 5 >= 4 e-mails; every scorer then uses them
        assert model._tables.tables is not None
        assert all(s.subset_products is model._tables.tables for s in model._scorers.values())
    assert len(model._tables.tables.groups) >= 2  # the 7 buckets seen, in groups of 3
    for mode, ev in results:
        assert decrypt_verdicts(keys.secret, ev) == [s >= 0 for s in scores]
        if mode is Mode.SCORE:
            assert decrypt_scores(keys.secret, ev) == scores
