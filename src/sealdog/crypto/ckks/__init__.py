"""CKKS (approximate arithmetic on encrypted reals) on Microsoft SEAL through TenSEAL.

The production backend for encrypted neural networks: parameters checked against the
Homomorphic Encryption Standard's 128-bit table (`params`), keys and the server bundle
without the secret key (`keys`), the ciphertext operations the networks need (`ops`), the
hardening of every ciphertext that leaves the server (`outputs`), and the masked refresh that
replaces bootstrapping during training (`refresh`). TenSEAL is an optional extra
(`pip install sealdog[ckks]`); it is imported lazily (`backend.tenseal`), so importing this
package never fails, and using it without the extra raises `CkksUnavailableError`.
"""
