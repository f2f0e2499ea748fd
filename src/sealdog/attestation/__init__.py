"""Auditor attestations: an Ed25519-signed statement that a sealed model's weights and score
bound were checked (`document`), and auditor keys (`keys`). The client signs (`sealdog audit
--attest`); the server verifies against its trusted auditors. Imports only errors and fileio.
"""

from sealdog.attestation.document import (
    ATTESTATION_FORMAT,
    Attestation,
    AttestationError,
    Statement,
    featuriser_digest,
    sign_statement,
)
from sealdog.attestation.keys import (
    AuditorKeyError,
    TrustedAuditors,
    auditor_id,
    generate_auditor_key,
    public_key_b64,
    read_private_key,
    write_keypair,
)

__all__ = [
    "ATTESTATION_FORMAT",
    "Attestation",
    "AttestationError",
    "AuditorKeyError",
    "Statement",
    "TrustedAuditors",
    "auditor_id",
    "featuriser_digest",
    "generate_auditor_key",
    "public_key_b64",
    "read_private_key",
    "sign_statement",
    "write_keypair",
]
