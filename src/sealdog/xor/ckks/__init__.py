"""XOR networks on CKKS (128-bit, HE Standard): the production backend for sealed networks.

Roles, as in the integer-vector package one level up:

- `network`, `sealed`, `outputs` (encoding): what the server gets and runs: the sealed
  network (kind "xor-ckks", scheme "ckks") and its hardened encrypted outputs;
- `keyholder`: the secret key: sealing, decrypting outputs, the key holder's half of
  training (initial weights, masked refreshes, convergence checks);
- `training`: the data holder's half of training (plaintext inputs and targets, encrypted
  weights, no secret key);
- `demo`: both roles in one process, exchanging only bytes.
"""
