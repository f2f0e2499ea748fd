"""Homomorphic encryption schemes, and nothing else.

- `sealdog.crypto.paillier`: Paillier on phe + gmpy2, the production path for linear models.
- `sealdog.crypto.vhe`: the integer-vector scheme of Zhou & Wornell (research/demo grade).

No I/O beyond (de)serialisation of keys and ciphertexts, no knowledge of e-mails.
"""
