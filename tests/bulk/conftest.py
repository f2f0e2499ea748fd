"""Fixtures for bulk scoring: 1024-bit insecure keys, a spam model trained on the built-in
samples (512 hashing buckets), its sealed file, and a small archive in every layout a
bulk run reads (folder with a non-mail file, mbox with Message-IDs, .tar.gz)."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class BulkArtifacts:
    root: Path
    public_key: Path
    secret_key: Path
    plain_model: object
    sealed: Path
    paths: tuple[Path, ...]
    raw_by_name: dict[str, bytes]
    """Every e-mail of the archive by its corpus name (the non-mail file is not here)."""


MBOX_SEPARATOR = b"From someone@example.com Mon Jan  1 00:00:00 2024\n"


@pytest.fixture(scope="session")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> BulkArtifacts:
    from sealdog.client.demo_model import seal_spam_model, train_spam_model
    from sealdog.client.keyfiles import write_keypair
    from sealdog.data.sample_corpus import load_samples

    root = tmp_path_factory.mktemp("bulk")
    pk, _ = write_keypair(root / "k.pub.json", root / "k.key.json", bits=1024, insecure=True)
    samples = load_samples()
    model = train_spam_model(samples, workers=1, n_buckets=512)
    seal_spam_model(model, pk).write(root / "spam.sealed")

    raw_by_name: dict[str, bytes] = {}
    folder = root / "mail"
    folder.mkdir()
    for s in samples:
        (folder / s.name).write_bytes(s.raw)
        raw_by_name[f"{folder}/{s.name}"] = s.raw
    (folder / "junk.bin").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4)

    mbox = root / "box.mbox"
    with mbox.open("wb") as handle:
        for i in range(120):
            raw = b"Message-ID: <m%d@example.com>\n" % i + samples[i % len(samples)].raw
            handle.write(MBOX_SEPARATOR + raw.replace(b"\nFrom ", b"\n>From ") + b"\n")
            raw_by_name[f"{mbox}#{i + 1}"] = raw

    archive = root / "old.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(50):
            raw = samples[(7 * i) % len(samples)].raw
            info = tarfile.TarInfo(f"2019/{i:03d}.eml")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
            raw_by_name[f"{archive}:2019/{i:03d}.eml"] = raw
    return BulkArtifacts(
        root,
        root / "k.pub.json",
        root / "k.key.json",
        model,
        root / "spam.sealed",
        (folder, mbox, archive),
        raw_by_name,
    )
