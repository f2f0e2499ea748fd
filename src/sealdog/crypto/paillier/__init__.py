"""Paillier backend (phe + gmpy2): keys, fixed-point, sealed linear models, blinding, packing."""
