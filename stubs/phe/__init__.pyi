# Stubs for the part of python-paillier (phe) Sealdog uses: key generation and the reference
# encryption its tests compare against. phe's numbers are Python ints.
from typing import Any

class PaillierPublicKey:
    n: int
    nsquare: int
    g: int
    max_int: int
    def __init__(self, n: int) -> None: ...
    def raw_encrypt(self, plaintext: int, r_value: int | None = None) -> int: ...
    def encrypt(
        self, value: float, precision: float | None = None, r_value: int | None = None
    ) -> EncryptedNumber: ...

class PaillierPrivateKey:
    public_key: PaillierPublicKey
    p: int
    q: int
    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None: ...
    def raw_decrypt(self, ciphertext: int) -> int: ...
    def decrypt(self, encrypted_number: EncryptedNumber) -> Any: ...

class EncryptedNumber:
    public_key: PaillierPublicKey
    exponent: int
    def ciphertext(self, be_secure: bool = True) -> int: ...

def generate_paillier_keypair(
    private_keyring: object = None, n_length: int = 3072
) -> tuple[PaillierPublicKey, PaillierPrivateKey]: ...
