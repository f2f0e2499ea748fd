"""Enron-Spam locator and loader (Metsis, Androutsopoulos & Paliouras, 2006, preprocessed form).

The corpus is six mailboxes, ``enron1`` .. ``enron6``, each with ``ham/*.txt`` and
``spam/*.txt``. It is read either straight from the official ``enronN.tar.gz`` archives
(no extraction) or from extracted ``enronN/{ham,spam}`` folders. Sealdog never ships it.

Where it is looked for, first hit wins:

1. an explicit path (``--data`` on the command line);
2. the environment variable ``SEALDOG_DATA`` (or ``SEALDOG_ENRON``);
3. ``../shared/datasets/enron-spam`` relative to the current directory or the project;
4. ``data/enron-spam`` or ``data/`` relative to the current directory or the project.

Order is deterministic: by folder (enron1 first), then by path inside it (``ham/`` before
``spam/``, then file name), so every split built on it is reproducible.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sealdog.errors import SealdogError

ENRON_FOLDERS: tuple[str, ...] = tuple(f"enron{i}" for i in range(1, 7))
ENV_VARS: tuple[str, ...] = ("SEALDOG_DATA", "SEALDOG_ENRON")
SOURCE_URL = "https://www2.aueb.gr/users/ion/data/enron-spam/"
_PROJECT_ROOT = Path(__file__).resolve().parents[3]
_MEMBER_RE = re.compile(r"^(?:.*/)?(enron[1-6])/(ham|spam)/([^/]+)$")


class CorpusNotFoundError(SealdogError):
    """The Enron-Spam corpus is not where Sealdog was told (or guessed) to find it."""


class CorpusFormatError(SealdogError):
    """A corpus folder or archive does not have the enronN/{ham,spam} layout."""


@dataclass(frozen=True)
class LabelledEmail:
    """One raw e-mail with its label (1 = spam, 0 = ham) and where it came from."""

    folder: str
    name: str
    label: int
    raw: bytes


def _has_corpus(root: Path) -> bool:
    return root.is_dir() and any(
        (root / f"{f}.tar.gz").is_file() or (root / f / "ham").is_dir() for f in ENRON_FOLDERS
    )


def is_enron_root(path: str | os.PathLike[str]) -> bool:
    """True if `path` holds ``enronN.tar.gz`` archives or ``enronN/ham`` folders."""
    return _has_corpus(Path(path))


def candidate_roots(cwd: Path | None = None) -> list[Path]:
    """The default places searched when no path or environment variable is given."""
    bases = [Path.cwd() if cwd is None else cwd, _PROJECT_ROOT]
    out: list[Path] = []
    for rel in ("../shared/datasets/enron-spam", "data/enron-spam", "data"):
        for base in bases:
            path = (base / rel).resolve()
            if path not in out:
                out.append(path)
    return out


def locate_enron(path: str | os.PathLike[str] | None = None, *, cwd: Path | None = None) -> Path:
    """The folder holding ``enronN.tar.gz`` archives or ``enronN/`` folders; see module doc."""
    if path is not None:
        root = Path(path).expanduser()
        if _has_corpus(root):
            return root
        raise CorpusNotFoundError(_not_found_message(f"the path given ({root})"))
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            root = Path(value).expanduser()
            if _has_corpus(root):
                return root
            raise CorpusNotFoundError(_not_found_message(f"${var} ({root})"))
    for root in candidate_roots(cwd):
        if _has_corpus(root):
            return root
    searched = ", ".join(str(p) for p in candidate_roots(cwd))
    raise CorpusNotFoundError(_not_found_message(f"the default places ({searched})"))


def _not_found_message(where: str) -> str:
    return (
        f"Enron-Spam corpus not found in {where}. It is the preprocessed Enron-Spam data set "
        f"(Metsis et al., 2006) from {SOURCE_URL} (enron1.tar.gz .. enron6.tar.gz). "
        "Download and verify it with `sealdog data fetch --dest DIR`, or point Sealdog at a "
        "folder holding the archives or extracted enronN/{ham,spam} folders with --data DIR "
        "or SEALDOG_DATA=DIR."
    )


def available_folders(root: Path) -> list[str]:
    """The enronN folders present under `root`, in order."""
    return [
        f for f in ENRON_FOLDERS if (root / f"{f}.tar.gz").is_file() or (root / f / "ham").is_dir()
    ]


def load_folder(root: Path, folder: str) -> list[LabelledEmail]:
    """All e-mails of one mailbox, ham and spam, in deterministic order."""
    if folder not in ENRON_FOLDERS:
        raise CorpusFormatError(
            f"unknown Enron-Spam folder {folder!r}; expected one of {ENRON_FOLDERS}"
        )
    extracted = root / folder
    archive = root / f"{folder}.tar.gz"
    if (extracted / "ham").is_dir():
        items = _read_extracted(extracted, folder)
    elif archive.is_file():
        items = _read_archive(archive, folder)
    else:
        raise CorpusNotFoundError(
            _not_found_message(f"{root} (no {folder}.tar.gz or {folder}/ham)")
        )
    if not items:
        raise CorpusFormatError(f"{folder} under {root} holds no ham/*.txt or spam/*.txt files")
    items.sort(key=lambda e: (e.label, e.name))
    return items


def load_enron(root: Path, folders: Sequence[str] | None = None) -> list[LabelledEmail]:
    """E-mails of the given folders (default: all present), by folder then path."""
    chosen = available_folders(root) if folders is None else list(folders)
    if not chosen:
        raise CorpusNotFoundError(_not_found_message(str(root)))
    out: list[LabelledEmail] = []
    for folder in chosen:
        out.extend(load_folder(root, folder))
    return out


def _read_extracted(folder_path: Path, folder: str) -> list[LabelledEmail]:
    out: list[LabelledEmail] = []
    for label, sub in ((0, "ham"), (1, "spam")):
        directory = folder_path / sub
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.is_file() and path.suffix == ".txt":
                out.append(LabelledEmail(folder, path.name, label, path.read_bytes()))
    return out


def _read_archive(archive: Path, folder: str) -> list[LabelledEmail]:
    out: list[LabelledEmail] = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                match = _MEMBER_RE.match(member.name)
                if not member.isfile() or match is None or match.group(1) != folder:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                label = 1 if match.group(2) == "spam" else 0
                out.append(LabelledEmail(folder, match.group(3), label, handle.read()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorpusFormatError(
            f"cannot read {archive}: {exc}; re-download it (`sealdog data fetch`)"
        ) from exc
    return out


def count_labels(emails: Iterable[LabelledEmail]) -> tuple[int, int]:
    """(ham, spam) counts."""
    ham = spam = 0
    for e in emails:
        if e.label:
            spam += 1
        else:
            ham += 1
    return ham, spam
