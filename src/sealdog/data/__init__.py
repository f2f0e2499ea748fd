"""Data sets: the Enron-Spam locator and fetcher, and hand-written sample e-mails.

Never the corpus itself: it is read from ../shared/datasets or a path the user gives.
"""
