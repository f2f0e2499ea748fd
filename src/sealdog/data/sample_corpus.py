"""The bundled sample corpus: 20 ham and 20 spam hand-written e-mails (demo fallback, tests).

They are Sealdog's own messages (not from any data set), in several MIME shapes:
plain, multipart/alternative, base64 HTML-only and quoted-printable.
"""

from __future__ import annotations

from pathlib import Path

from sealdog.data.enron import LabelledEmail

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def load_samples(directory: Path = SAMPLES_DIR) -> list[LabelledEmail]:
    """All sample e-mails, ham first, each group by file name; label 1 = spam."""
    out: list[LabelledEmail] = []
    for label, sub in ((0, "ham"), (1, "spam")):
        for path in sorted((directory / sub).glob("*.eml")):
            out.append(LabelledEmail("samples", path.name, label, path.read_bytes()))
    return out
