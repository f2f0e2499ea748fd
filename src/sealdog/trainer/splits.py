"""Honest k-fold splits of labelled mail: stratified, seeded, duplicates kept together.

`duplicate_aware_folds` gives each message a fold number so that

- every duplicate group (`sealdog.mail.duplicates.DuplicateDetector`: same Message-ID or
  same normalised body) is in one fold, so no message is evaluated against a copy of itself
  that was trained on;
- each fold holds about the same number of ham and of spam (greedy, group by group);
- the assignment depends only on the seed and the messages' contents, not on the order the
  messages were read in: the same corpus in any file order gets the same folds (the
  training procedure built on it can then give the same model).

Groups are visited in the order of a keyed hash of their content key (the smallest content
key of their members, `content_key`), which is the seeded shuffle; each goes to the fold
that has the fewest messages of its label so far (ties: the lower fold number).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from sealdog.mail.duplicates import DuplicateDetector


def content_key(raw: bytes) -> str:
    """A key of a message's exact bytes (BLAKE2b), the order-free identity of a message."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def duplicate_groups(raws: Sequence[bytes], names: Sequence[str] | None = None) -> list[int]:
    """Group id of every message (duplicates share one), via `DuplicateDetector`."""
    detector = DuplicateDetector()
    for i, raw in enumerate(raws):
        detector.add(names[i] if names is not None else str(i), raw)
    return detector.group_ids()


def duplicate_aware_folds(
    labels: Sequence[int],
    groups: Sequence[int],
    keys: Sequence[str],
    *,
    k: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Fold number (0..k-1) of each message; see the module doc.

    `labels` are 0/1, `groups` duplicate-group ids (any integers, equal for duplicates),
    `keys` content keys (`content_key`). A group whose members disagree on the label is
    placed by its majority label (ties: spam). Raises `ValueError` on inconsistent input.
    """
    n = len(labels)
    if len(groups) != n or len(keys) != n:
        raise ValueError("labels, groups and keys must have the same length")
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    members: dict[int, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    seed_bytes = str(seed).encode("utf-8")

    def order(group: int) -> tuple[str, str]:
        key = min(keys[i] for i in members[group])
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16, key=seed_bytes)
        return digest.hexdigest(), key

    folds = np.full(n, -1, dtype=np.int64)
    filled = np.zeros((2, k), dtype=np.int64)
    for group in sorted(members, key=order):
        indices = members[group]
        spam = sum(1 for i in indices if labels[i])
        label = 1 if 2 * spam >= len(indices) else 0
        fold = int(np.argmin(filled[label]))
        folds[indices] = fold
        filled[label, fold] += len(indices)
    return folds


def mailbox_folds(
    labels: Sequence[int],
    mailboxes: Sequence[str],
    groups: Sequence[int],
    keys: Sequence[str],
    *,
    k: int = 5,
    seed: int = 0,
) -> np.ndarray | None:
    """Folds that hold out whole mailboxes, or None when there are fewer than two.

    A mailbox (an Enron-Spam user, or the folder holding a ``--ham``/``--spam`` PATH) counts
    when it holds both ham and spam: the threshold is then judged on ham of a mailbox its
    models never saw, which is what a detector meets on someone else's mail. With m such
    mailboxes there are min(k, m) folds; mailboxes go, largest first, to the fold with the
    fewest messages (ties: a keyed hash of the mailbox name, then the lower fold). Messages
    of single-class mailboxes are spread by `duplicate_aware_folds` over the same folds. A
    duplicate group split across folds is moved whole to the fold of its smallest content
    key, so no message is judged against its own copy. Depends on contents and mailbox
    names only, never on reading order.
    """
    n = len(labels)
    if len(mailboxes) != n or len(groups) != n or len(keys) != n:
        raise ValueError("labels, mailboxes, groups and keys must have the same length")
    classes: dict[str, set[int]] = {}
    sizes: dict[str, int] = {}
    for label, box in zip(labels, mailboxes):
        classes.setdefault(box, set()).add(1 if label else 0)
        sizes[box] = sizes.get(box, 0) + 1
    full = sorted(box for box, seen in classes.items() if len(seen) == 2)
    if len(full) < 2:
        return None
    k = min(k, len(full))
    seed_bytes = str(seed).encode("utf-8")

    def order(box: str) -> tuple[int, str, str]:
        digest = hashlib.blake2b(box.encode("utf-8"), digest_size=16, key=seed_bytes)
        return -sizes[box], digest.hexdigest(), box

    fold_of: dict[str, int] = {}
    filled = np.zeros(k, dtype=np.int64)
    for box in sorted(full, key=order):
        fold = int(np.argmin(filled))
        fold_of[box] = fold
        filled[fold] += sizes[box]
    folds = np.full(n, -1, dtype=np.int64)
    rest = [i for i in range(n) if mailboxes[i] not in fold_of]
    for i in range(n):
        if mailboxes[i] in fold_of:
            folds[i] = fold_of[mailboxes[i]]
    if rest:
        folds[rest] = duplicate_aware_folds(
            [labels[i] for i in rest],
            [groups[i] for i in rest],
            [keys[i] for i in rest],
            k=k,
            seed=seed,
        )
    first: dict[int, tuple[str, int]] = {}
    for i in range(n):
        if groups[i] not in first or keys[i] < first[groups[i]][0]:
            first[groups[i]] = (keys[i], int(folds[i]))
    for i in range(n):
        folds[i] = first[groups[i]][1]
    return folds
