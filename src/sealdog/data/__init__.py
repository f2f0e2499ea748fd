"""Data sets: the Enron-Spam locator and fetcher, and small hand-written sample e-mails (never the corpus)."""
