"""CKKS backend: presets against the HE Standard (read back from SEAL), the server bundle
without the secret key, hardened outputs (re-randomised, flooded), the masked refresh
through bytes, and level accounting."""

from __future__ import annotations

import os
import statistics

import pytest

ts = pytest.importorskip("tenseal")

from sealdog.crypto.ckks import outputs, refresh, vectors  # noqa: E402
from sealdog.crypto.ckks.errors import (  # noqa: E402
    CkksCorruptDataError,
    CkksLevelsExhaustedError,
    CkksParameterError,
)
from sealdog.crypto.ckks.keys import KeyHolderContext, build_context, load_public, read_back  # noqa: E402
from sealdog.crypto.ckks.params import (  # noqa: E402
    HE_STANDARD_MAX_BITS,
    PRESETS,
    CkksParams,
    preset,
    security_bits,
)
from sealdog.crypto.ckks.randomness import gaussian, uniform  # noqa: E402
from sealdog.errors import CorruptDataError, InsecureParametersError  # noqa: E402


@pytest.fixture(scope="module")
def keys() -> KeyHolderContext:
    return KeyHolderContext.generate(PRESETS["standard"])


@pytest.fixture(scope="module")
def public(keys: KeyHolderContext) -> object:
    return load_public(keys.server_bundle())[0]


# --- parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_128_bit_by_the_he_standard_as_seal_reports_it(name: str) -> None:
    params = PRESETS[name]
    n, bits = read_back(build_context(params))
    assert (n, bits) == (params.poly_modulus_degree, params.coeff_mod_bit_sizes)
    assert sum(bits) <= HE_STANDARD_MAX_BITS[128][n]
    assert security_bits(n, sum(bits)) >= 128


def test_the_table_is_the_standards_128_bit_column() -> None:
    assert HE_STANDARD_MAX_BITS[128] == {
        1024: 27,
        2048: 54,
        4096: 109,
        8192: 218,
        16384: 438,
        32768: 881,
    }
    assert security_bits(8192, 218) == 128
    assert security_bits(8192, 219) == 0
    assert security_bits(16384, 237) == 256


@pytest.mark.parametrize(
    "params",
    [
        CkksParams("too-many-bits", 8192, (60, 40, 40, 40, 40), 40),  # 220 > 218
        CkksParams("ring-too-small", 4096, (60, 40, 40), 40),  # 140 > 109
        CkksParams("n-not-in-table", 12288, (60, 40, 60), 40),
        CkksParams("scale-above-first-prime", 8192, (30, 30, 30), 40),
    ],
)
def test_presets_below_128_bits_or_malformed_are_refused(params: CkksParams) -> None:
    with pytest.raises(CkksParameterError) as err:
        params.check()
    assert isinstance(err.value, InsecureParametersError)
    with pytest.raises(CkksParameterError):
        build_context(params)


def test_seal_itself_refuses_what_the_table_refuses() -> None:
    """The table is also SEAL's: the weak set cannot be built around our check either."""
    with pytest.raises(ValueError):
        ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 40, 40])


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(CkksParameterError, match="standard"):
        preset("tiny")


# --- keys ------------------------------------------------------------------------------


def test_server_bundle_has_no_secret_key_and_cannot_decrypt(keys: KeyHolderContext) -> None:
    bundle = keys.server_bundle()
    public, params = load_public(bundle)
    assert params == PRESETS["standard"]
    assert not public.is_private() and not public.has_secret_key()
    ct = vectors.encrypt(public, 0.25)  # it can encrypt ...
    with pytest.raises(ValueError, match="secret"):
        ct.decrypt()  # ... but not decrypt
    # the key holder's own context decrypts the same ciphertext
    assert ct.decrypt(keys.context.secret_key())[0] == pytest.approx(0.25, abs=1e-6)


def test_a_bundle_carrying_the_secret_key_is_refused(keys: KeyHolderContext) -> None:
    with pytest.raises(CkksParameterError, match="secret key"):
        load_public(keys.context.serialize(save_secret_key=True))


def test_garbage_bundle_is_corrupt_data() -> None:
    with pytest.raises(CkksCorruptDataError):
        load_public(b"not a context")


def test_secret_context_round_trips_and_is_written_0600(keys: KeyHolderContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ckks.key"
    keys.write(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = KeyHolderContext.from_bytes(path.read_bytes())
    assert again.params == keys.params
    # the same key name after a reload (TenSEAL would re-serialise the bundle differently)
    assert again.key_fingerprint == keys.key_fingerprint
    with pytest.raises(CorruptDataError):
        KeyHolderContext.from_bytes(keys.context.serialize(save_secret_key=True))
    ct = vectors.encrypt(keys.context, -1.5)
    assert ct.decrypt(again.context.secret_key())[0] == pytest.approx(-1.5, abs=1e-6)


# --- levels ----------------------------------------------------------------------------


def test_levels_are_counted_and_exhaustion_is_a_clear_error(public: object) -> None:
    params = PRESETS["standard"]
    ct = vectors.encrypt(public, 1.1)
    assert vectors.levels_left(ct) == params.levels
    for left in range(params.levels - 1, -1, -1):
        ct = ct * 1.0
        assert vectors.levels_left(ct) == left
    with pytest.raises(CkksLevelsExhaustedError, match="refresh"):
        vectors.require_levels([ct], 1, "a product")
    with pytest.raises(ValueError):  # what SEAL does without the check: an opaque failure
        ct * 1.0


# --- hardened outputs ------------------------------------------------------------------


def test_hardened_output_decrypts_to_the_value_within_the_flooding(
    keys: KeyHolderContext, public: object
) -> None:
    x = vectors.encrypt(public, 0.7)
    y = x * x * 0.5  # 0.245, two levels used
    errors = [
        outputs.decrypt_hardened(keys.context, outputs.harden(public, y)) - 0.245 for _ in range(8)
    ]
    assert all(abs(e) < outputs.OUTPUT_PRECISION for e in errors)
    assert len(set(errors)) == len(errors)  # fresh flooding each time


def test_hardening_rerandomises_and_floods_every_slot(
    keys: KeyHolderContext, public: object
) -> None:
    y = vectors.encrypt(public, 0.3) * 2.0
    first, second = outputs.harden(public, y), outputs.harden(public, y)
    assert first != second
    raw = vectors.raw_from_bytes(keys.context, first)
    assert keys.context.seal_context().data.get_context_data(raw.parms_id()).chain_index() == 0
    slots = vectors.decrypt_slots(keys.context, raw)
    # TenSEAL replicates the scalar into every slot: each copy carries its own noise
    bare = vectors.decrypt_slots(keys.context, vectors.raw_ciphertext(y))
    assert statistics.pstdev(bare) < 1e-4 and abs(statistics.mean(bare) - 0.6) < 1e-4
    # hardened, the other slots are flooded with width 1, slot 0 with FLOOD_SIGMA
    spread = statistics.pstdev(s - 0.6 for s in slots[1:])
    assert 0.95 * outputs.OTHER_SLOTS_SIGMA < spread < 1.05 * outputs.OTHER_SLOTS_SIGMA
    firsts = [
        vectors.decrypt_slots(keys.context, vectors.raw_from_bytes(keys.context, h))[0] - 0.6
        for h in [outputs.harden(public, y) for _ in range(40)]
    ]
    assert 0.6 * outputs.FLOOD_SIGMA < statistics.pstdev(firsts) < 1.4 * outputs.FLOOD_SIGMA


# --- masked refresh --------------------------------------------------------------------


def test_masked_refresh_end_to_end_through_bytes(keys: KeyHolderContext, public: object) -> None:
    values = [0.125, -3.5, 7.25]
    cts = [vectors.encrypt(public, v) * 1.0 * 1.0 for v in values]  # two levels used
    fingerprint = keys.key_fingerprint
    trainer = refresh.Refresher(public, fingerprint)
    request, pending = trainer.request(cts, scales=[1.0, 0.5, 1.0])
    assert isinstance(request, bytes)
    answer = refresh.answer_refresh(keys, request, key_fingerprint=fingerprint)
    assert isinstance(answer, bytes)
    fresh = trainer.complete(pending, answer)
    sk = keys.context.secret_key()
    before = [ct.decrypt(sk)[0] for ct in cts]  # the values with the products' own error
    for ct, v, b in zip(fresh, values, before, strict=True):
        assert vectors.levels_left(ct) == PRESETS["standard"].levels
        assert ct.decrypt(sk)[0] == pytest.approx(b, abs=1e-5)  # what the refresh costs
        assert ct.decrypt(sk)[0] == pytest.approx(v, abs=2e-4)


def test_the_key_holder_sees_only_masked_values(keys: KeyHolderContext, public: object) -> None:
    """What the key holder decrypts from requests for the same weight: spread over
    +-2^MASK_BITS, uncorrelated with the weight (every slot, not only slot 0)."""
    trainer = refresh.Refresher(public, keys.key_fingerprint)
    ct = vectors.encrypt(public, 2.0) * 1.0
    seen = []
    for _ in range(12):
        request, _ = trainer.request([ct])
        _, body = refresh.REQUEST.read(request)
        raw = vectors.raw_from_bytes(keys.context, bytes(body[4:]))
        slots = vectors.decrypt_slots(keys.context, raw)
        seen.append(slots[0])
        assert statistics.pstdev(slots[1:50]) > 2 ** (refresh.MASK_BITS - 3)
    bound = 2.0**refresh.MASK_BITS
    assert all(abs(v) <= bound + 3 for v in seen)
    assert statistics.pstdev(seen) > bound / 4  # uniform on +-2^30 has sd 2^30 / sqrt(3)


def test_refresh_refuses_another_key_and_wrapped_values(
    keys: KeyHolderContext, public: object
) -> None:
    trainer = refresh.Refresher(public, keys.key_fingerprint)
    request, _ = trainer.request([vectors.encrypt(public, 1.0)])
    with pytest.raises(refresh.RefreshRefusedError, match="another key"):
        refresh.answer_refresh(keys, request, key_fingerprint="0" * 64)
    last = vectors.encrypt(public, 1.0)
    for _ in range(PRESETS["standard"].levels):
        last = last * 1.0
    with pytest.raises(CkksLevelsExhaustedError):
        trainer.request([last])  # no level left: the masked value would wrap


def test_refresh_answer_must_match_the_request(keys: KeyHolderContext, public: object) -> None:
    trainer = refresh.Refresher(public, keys.key_fingerprint)
    _request, pending = trainer.request([vectors.encrypt(public, 1.0)] * 2)
    other, _ = trainer.request([vectors.encrypt(public, 1.0)])
    wrong = refresh.answer_refresh(keys, other, key_fingerprint=keys.key_fingerprint)
    with pytest.raises(CkksCorruptDataError):
        trainer.complete(pending, wrong)
    with pytest.raises(CorruptDataError):
        trainer.complete(pending, b"SDKA" + b"\x00" * 10)


# --- randomness ------------------------------------------------------------------------


def test_uniform_and_gaussian_have_the_documented_shape() -> None:
    u = uniform(20000, 8.0)
    assert u.min() >= -8.0 and u.max() < 8.0
    assert abs(u.mean()) < 0.2 and abs(u.std() - 8.0 / 3**0.5) < 0.1
    g = gaussian(20001, 0.5)
    assert len(g) == 20001
    assert abs(g.mean()) < 0.02 and abs(g.std() - 0.5) < 0.02
