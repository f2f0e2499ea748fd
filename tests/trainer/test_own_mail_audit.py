"""`sealdog audit` with the key holder's term map and the user's own held-out mail."""

from __future__ import annotations

from pathlib import Path

import pytest
from own_mail import write_corpus
from typer.testing import CliRunner

from sealdog.cli import app
from sealdog.client.audit import MailSet, run_audit, write_report
from sealdog.crypto.paillier import generate_keypair
from sealdog.trainer.model import LinearModel
from sealdog.trainer.sealing import seal_plaintext_model
from sealdog.trainer.term_map import term_map_path

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, object]:
    root = tmp_path_factory.mktemp("audit")
    ham, spam = write_corpus(root / "train", n_ham=40, n_spam=30)
    model_path = root / "model.json"
    r = runner.invoke(
        app,
        [
            "train",
            "--ham",
            str(ham),
            "--spam",
            str(spam),
            "--buckets",
            "1024",
            "-o",
            str(model_path),
        ],
    )
    assert r.exit_code == 0, r.output
    pk, sk = generate_keypair(512, insecure=True)
    sealed = root / "model.sealed"
    seal_plaintext_model(LinearModel.load(model_path), pk).write(sealed)
    return root, model_path, sealed, sk


def test_audit_names_buckets_from_the_term_map_and_evaluates_own_mail(trained) -> None:
    root, model_path, sealed, sk = trained
    held_ham, held_spam = write_corpus(root / "held", n_ham=10, n_spam=10, seed=9)
    result = run_audit(
        sealed_path=sealed,
        plain_path=model_path,
        secret_key=sk,
        openings_path=None,
        workers=1,
        top=5,
        mail=MailSet((held_ham,), (held_spam,)),
    )
    assert result.passed
    assert str(term_map_path(model_path)) in result.term_names
    names = [t for t, _ in result.top_spam + result.top_ham]
    assert names and not any(n.startswith("#") for n in names)
    ev = result.evaluation
    assert ev is not None and ev.n == 20 and not ev.bundled and "your mail" in ev.source
    report = root / "audit.html"
    write_report(report, result)
    html = report.read_text()
    assert "training term map" in html and "bundled sample" not in html


def test_audit_says_when_it_evaluates_on_the_bundled_samples(trained) -> None:
    root, model_path, sealed, sk = trained
    result = run_audit(
        sealed_path=sealed, plain_path=model_path, secret_key=sk, openings_path=None, workers=1
    )
    assert result.evaluation is not None and result.evaluation.bundled
    assert "NOT your mail" in result.evaluation.source
    report = root / "samples.html"
    write_report(report, result)
    assert "40 bundled sample e-mails, not your mail" in report.read_text()
