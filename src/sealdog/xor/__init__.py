"""XOR networks: plaintext trainer, encrypted training on the integer-vector scheme, sealed networks.

Research/demo grade (see docs/xor.md): the scheme's presets that make products affordable
have tiny LWE dimensions and are breakable.
"""
