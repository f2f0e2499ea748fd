"""XOR networks: plaintext trainer, encrypted training (integer-vector scheme), sealed networks.

Research/demo grade (see docs/xor.md): the scheme's presets that make products affordable
have tiny LWE dimensions and are breakable.

Roles: `sealed.py` (the sealed network, in the sealed-model container) and `network.py` (its
forward pass) are what the server gets and imports; `keyholder.py` (sealing, decryption),
`encrypted.py` (encrypted training) and `outputs.decrypt_xor_outputs` stay with the key holder.
"""
