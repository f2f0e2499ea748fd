"""The server never imports a name for, constructs, or deserialises a secret key.

1. A full API flow (upload, direct and inbox scoring, exact-score mode, inbox read) for a
   linear (Paillier) model and an xor (integer-vector, VHE) network runs in a fresh
   interpreter where every secret-key code path (Sealdog's Paillier and VHE SecretKey and
   their loaders/decoders, key generation, phe's private key) raises; the scoring worker
   processes get the same trap through `sitecustomize`.
2. No module of sealdog.server imports a secret-key name.
3. No request body of the HTTP API has a field that could carry a key.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from server_testkit import REPO_ROOT

TRAP = textwrap.dedent(
    """
    import phe, phe.paillier
    import sealdog.crypto.paillier as paillier
    import sealdog.crypto.paillier.keys as keys

    def _explode(*args, **kwargs):
        raise AssertionError("secret-key code path reached in the server")

    phe.PaillierPrivateKey.__init__ = _explode
    phe.paillier.PaillierPrivateKey.__init__ = _explode
    phe.paillier.generate_paillier_keypair = _explode
    phe.generate_paillier_keypair = _explode
    keys.SecretKey.__init__ = _explode
    for name in dir(keys.SecretKey):
        if name.startswith(("from_", "load")):
            setattr(keys.SecretKey, name, classmethod(_explode))
    for mod in (keys, paillier):
        for name in ("load_secret_key", "generate_keypair", "decrypt_verdicts", "decrypt_scores"):
            if hasattr(mod, name):
                setattr(mod, name, _explode)

    # The integer-vector scheme: no VHE secret key may be built, decoded, loaded or generated
    # (decryption needs a SecretKey instance, so it is covered too).
    import sealdog.crypto.vhe as vhe
    import sealdog.crypto.vhe.codec as vhe_codec
    import sealdog.crypto.vhe.keys as vhe_keys

    vhe_keys.SecretKey.__init__ = _explode
    for mod in (vhe, vhe_keys, vhe_codec):
        for name in ("generate_secret_key", "decode_secret_key", "load_secret_key"):
            if hasattr(mod, name):
                setattr(mod, name, _explode)
    """
)

FLOW = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    from pathlib import Path
    from fastapi.testclient import TestClient
    from sealdog.server.app import create_app
    from sealdog.server.auth import Role, issue_token
    from sealdog.server.settings import ServerSettings

    data, workdir = Path(sys.argv[1]).read_bytes(), Path(sys.argv[2])
    xor_data = Path(sys.argv[3]).read_bytes()
    app = create_app(ServerSettings(data_dir=workdir, demo_mode=True, scoring_processes=1))
    repo = app.state.services.repo
    _, owner = issue_token(repo, role=Role.owner, subject="alice")
    _, admin = issue_token(repo, role=Role.admin)
    o, a = {"Authorization": "Bearer " + owner}, {"Authorization": "Bearer " + admin}
    with TestClient(app) as c:
        r = c.post("/v1/models", content=data, headers=o); assert r.status_code == 201, r.text
        mid = r.json()["id"]
        emails = {"emails": [{"raw": "Subject: offer\\n\\nfree money"}, {"raw": "meeting"}]}
        assert c.post(f"/v1/models/{mid}/score", json=emails, headers=o).status_code == 200
        inbox = {**emails, "delivery": "inbox"}
        assert c.post(f"/v1/models/{mid}/score", json=inbox, headers=o).status_code == 202
        policy = {"score_mode_enabled": True}
        assert c.put(f"/v1/models/{mid}/policy", json=policy, headers=a).status_code == 200
        r = c.post(f"/v1/models/{mid}/score", json={**emails, "mode": "score"}, headers=o)
        assert r.status_code == 200, r.text
        assert len(c.get(f"/v1/models/{mid}/verdicts", headers=o).json()["entries"]) == 1
        assert c.get(f"/v1/models/{mid}/sealed", headers=o).status_code == 200
        r = c.post("/v1/models", content=xor_data, headers=o); assert r.status_code == 201, r.text
        xid = r.json()["id"]
        bits = {"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]]}
        r = c.post(f"/v1/models/{xid}/score", json=bits, headers=o)
        assert r.status_code == 200, r.text
        assert r.json()["verdicts"]["count"] == 4
        inbox_bits = {**bits, "delivery": "inbox"}
        assert c.post(f"/v1/models/{xid}/score", json=inbox_bits, headers=o).status_code == 202
        assert len(c.get(f"/v1/models/{xid}/verdicts", headers=o).json()["entries"]) == 1
    import phe
    import sealdog.crypto.vhe.keys as vhe_keys
    try:
        phe.PaillierPrivateKey(None, 1, 1)
    except AssertionError:
        try:
            vhe_keys.SecretKey(None, (), "x")
        except AssertionError:
            print("TRAP-ARMED")
    print("FLOW-OK")
    """
)


def _sealed_xor_bytes() -> bytes:
    import random

    from sealdog.crypto.vhe.keys import generate_secret_key
    from sealdog.crypto.vhe.params import PRESETS
    from sealdog.xor.keyholder import seal_xor_network
    from sealdog.xor.plaintext import TrainingConfig, train_plaintext

    net, _ = train_plaintext(TrainingConfig())
    rng = random.Random(8)
    return seal_xor_network(net, generate_secret_key(PRESETS["test"], 1, rng), rng).to_bytes()


def test_full_api_flow_with_secret_key_code_booby_trapped(
    tmp_path: Path, sealed_bytes: bytes
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(TRAP)
    # Guarded: the scoring pool uses spawn, which re-imports the main script.
    flow = (
        "def main():\n"
        + textwrap.indent(FLOW, "    ")
        + "\nif __name__ == '__main__':\n    main()\n"
    )
    (tmp_path / "flow.py").write_text(flow)
    model = tmp_path / "model.sealed"
    model.write_bytes(sealed_bytes)
    xor_model = tmp_path / "xor.sealed"
    xor_model.write_bytes(_sealed_xor_bytes())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "flow.py"),
            str(model),
            str(tmp_path / "data"),
            str(xor_model),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TRAP-ARMED" in result.stdout and "FLOW-OK" in result.stdout
    assert "secret-key code path reached" not in result.stderr


FORBIDDEN_NAMES = {
    "SecretKey",
    "load_secret_key",
    "save_secret_key",
    "generate_keypair",
    "decrypt_verdicts",
    "decrypt_scores",
    "PaillierPrivateKey",
    "generate_paillier_keypair",
    # the integer-vector (VHE) scheme
    "generate_secret_key",
    "decode_secret_key",
    "encode_secret_key",
    "decrypt_real",
    "decrypt_numerators",
    "decrypt_outputs",
    "decrypt_xor_outputs",
    "decrypt_net",
}


def test_no_server_module_imports_secret_key_names() -> None:
    server_dir = REPO_ROOT / "src" / "sealdog" / "server"
    offenders = []
    for path in server_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.Attribute):
                names = {node.attr}
            elif isinstance(node, ast.Name):
                names = {node.id}
            else:
                continue
            if names & FORBIDDEN_NAMES:
                offenders.append(f"{path.name}: {sorted(names & FORBIDDEN_NAMES)}")
    assert offenders == []


def test_request_bodies_have_no_key_fields() -> None:
    import tempfile

    from sealdog.server.app import create_app
    from sealdog.server.settings import ServerSettings

    with tempfile.TemporaryDirectory() as tmp:
        schema = create_app(ServerSettings(data_dir=Path(tmp))).openapi()
    request_schemas = set()
    for path_item in schema["paths"].values():
        for op in path_item.values():
            content = op.get("requestBody", {}).get("content", {})
            for media in content.values():
                ref = media.get("schema", {}).get("$ref")
                if ref:
                    request_schemas.add(ref.rsplit("/", 1)[-1])
    assert {"ScoreRequest", "TokenCreate", "ScorePolicy", "GrantCreate"} <= request_schemas

    def fields(name: str, seen: set[str]) -> set[str]:
        if name in seen:
            return set()
        seen.add(name)
        out = set()
        for prop, spec in schema["components"]["schemas"][name].get("properties", {}).items():
            out.add(prop.lower())
            for ref in _refs(spec):
                out |= fields(ref, seen)
        return out

    all_fields = set().union(*(fields(n, set()) for n in request_schemas))
    suspicious = {
        f
        for f in all_fields
        if any(w in f for w in ("secret", "private", "sk", "lambda", "passphrase"))
        or f in {"p", "q", "key"}
    }
    assert suspicious == set(), suspicious


def _refs(spec) -> list[str]:
    out = []
    if isinstance(spec, dict):
        if "$ref" in spec:
            out.append(spec["$ref"].rsplit("/", 1)[-1])
        for v in spec.values():
            out.extend(_refs(v))
    elif isinstance(spec, list):
        for v in spec:
            out.extend(_refs(v))
    return out
