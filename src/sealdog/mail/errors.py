"""Errors of the mail package, the one part of Sealdog that imports nothing else of it.

`MailError` is not a `SealdogError` so that `sealdog.mail` stays a leaf both sides can
import; the CLI error contract and the server map it exactly like a `SealdogError`
(a message meant for the person running Sealdog).
"""

from __future__ import annotations


class MailError(ValueError):
    """An e-mail, an e-mail source or a featuriser spec cannot be used (the message says why)."""


class EmailTooLargeError(MailError):
    """A raw e-mail is over the byte cap; raised before any parser sees it."""


class FeaturiserSpecError(MailError):
    """A featuriser spec is malformed or inconsistent."""


class MailSourceError(MailError):
    """An e-mail source (file, folder, mbox, stdin) cannot be read."""
