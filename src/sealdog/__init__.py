"""Sealdog: privacy-preserving inference for encrypted ("sealed") models.

A detector is trained in the clear by its owner, its weights are encrypted with the
owner's public key, and a server scores plaintext e-mails with the sealed model without
being able to read the weights or the verdicts. See README.md and docs/.
"""

__version__ = "0.1.0"
