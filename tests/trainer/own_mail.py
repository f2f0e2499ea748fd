"""Small generated raw-mail corpora (headers, MIME, links) for the own-mail tests.

Deterministic for a seed; no real mail. Ham and spam share most words, so the detector has
something to learn but the corpora are not trivially separable.
"""

from __future__ import annotations

import random
from pathlib import Path

COMMON = [
    "the",
    "a",
    "meeting",
    "please",
    "see",
    "note",
    "today",
    "time",
    "report",
    "week",
    "thanks",
    "project",
    "call",
]
HAM = [
    "budget",
    "agenda",
    "minutes",
    "review",
    "draft",
    "schedule",
    "colleague",
    "attached",
    "forecast",
    "team",
]
SPAM = [
    "free",
    "winner",
    "prize",
    "offer",
    "click",
    "cheap",
    "pills",
    "money",
    "urgent",
    "viagra",
    "casino",
]
HAM_DOMAINS = ("example.org", "lists.example.net", "corp.example.com")
SPAM_DOMAINS = ("cheap-deals.biz", "win-now.info", "promo.example.ru")


def make_email(label: int, i: int, rng: random.Random) -> bytes:
    """One raw e-mail (1 = spam) with headers, a body and maybe HTML and a link."""
    words = COMMON * 2 + (SPAM if label else HAM) + rng.sample(SPAM + HAM, 3)
    body = " ".join(rng.choice(words) for _ in range(rng.randint(20, 60)))
    subject = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
    domain = rng.choice(SPAM_DOMAINS if label else HAM_DOMAINS)
    if label and rng.random() < 0.5:
        subject = subject.upper() + "!!!"
    headers = (
        f"From: Sender {i} <s{i}@{domain}>\n"
        f"To: you@example.com\n"
        f"Subject: {subject}\n"
        f"Message-ID: <{label}-{i}-{rng.random():.12f}@{domain}>\n"
        "MIME-Version: 1.0\n"
    )
    if label and rng.random() < 0.6:
        html = f"<html><body><p>{body}</p><a href='http://{domain}/x?i={i}'>click</a></body></html>"
        return (headers + "Content-Type: text/html; charset=utf-8\n\n" + html + "\n").encode()
    return (headers + "Content-Type: text/plain; charset=utf-8\n\n" + body + "\n").encode()


def write_corpus(root: Path, n_ham: int = 60, n_spam: int = 40, seed: int = 0) -> tuple[Path, Path]:
    """``root/ham/*.eml`` and ``root/spam/*.eml``; returns the two folders."""
    rng = random.Random(seed)
    folders = []
    for label, name, n in ((0, "ham", n_ham), (1, "spam", n_spam)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (folder / f"{name}-{i:04d}.eml").write_bytes(make_email(label, i, rng))
        folders.append(folder)
    return folders[0], folders[1]


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    """An mbox file holding `messages` (each preceded by a ``From `` line and followed by
    an empty line; each message must end with a line break, as the reader gives them back)."""
    with path.open("wb") as handle:
        for raw in messages:
            handle.write(b"From sender@example.org Mon Jan  6 10:00:00 2025\n")
            handle.write(raw + b"\n")
    return path
