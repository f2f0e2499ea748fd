"""The package map of docs/architecture.md, as executable rules.

Every `import` in src/sealdog counts, module-level or inside a function: a lazy import is
still a dependency, it only hides a circle. The rules:

1. `sealdog.crypto` imports nothing of Sealdog above it (only crypto, errors, fileio).
2. `sealdog.mail` imports nothing of Sealdog outside itself (a leaf both sides share).
3. `sealdog.server` never imports the trainer, the client, the demos or the experiments.
4. Each package imports only what the table in docs/architecture.md allows.
5. There is no import circle between modules.

tests/server/test_no_secret_key.py adds the threat-model rule (no secret key in the server).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "sealdog"

# Package -> what it may import (besides itself and the root's __version__). Keep in step
# with the table in docs/architecture.md. `sealdog.client` and the root `sealdog.cli` sit on
# top and may import everything (the client runs the demos, which start a local server).
BASE = {"sealdog.errors", "sealdog.fileio"}
CLI_SUPPORT = {"sealdog.cli_errors", "sealdog.progress"}  # every package's cli.py uses them
ALLOWED: dict[str, set[str]] = {
    "sealdog.errors": set(),
    "sealdog.fileio": set(),
    "sealdog.mail": set(),
    "sealdog.crypto": BASE,
    "sealdog.protocol": {"sealdog.crypto"},
    "sealdog.cli_errors": {"sealdog.errors", "sealdog.mail"},
    "sealdog.progress": set(),
    "sealdog.sealed_model": BASE | {"sealdog.crypto"},
    "sealdog.attestation": BASE,
    "sealdog.data": BASE | CLI_SUPPORT | {"sealdog.mail"},
    "sealdog.xor": BASE
    | CLI_SUPPORT
    | {"sealdog.crypto.vhe", "sealdog.crypto.ckks", "sealdog.crypto.frame", "sealdog.sealed_model"},
    "sealdog.experiments": BASE | CLI_SUPPORT | {"sealdog.crypto.vhe", "sealdog.xor"},
    "sealdog.trainer": BASE
    | CLI_SUPPORT
    | {"sealdog.crypto", "sealdog.mail", "sealdog.data", "sealdog.sealed_model"},
    # Bulk scoring runs the server's own scoring code (`server.kinds`) on Ray; its CLI
    # downloads the model with the HTTP client and shares the client's options.
    "sealdog.bulk": BASE
    | CLI_SUPPORT
    | {
        "sealdog.crypto",
        "sealdog.mail",
        "sealdog.protocol",
        "sealdog.sealed_model",
        "sealdog.server.kinds",
        "sealdog.client.cli",
        "sealdog.client.http",
        "sealdog.client.keyfiles",
    },
    "sealdog.server": BASE
    | CLI_SUPPORT
    | {
        "sealdog.crypto",
        "sealdog.mail",
        "sealdog.protocol",
        "sealdog.sealed_model",
        "sealdog.attestation",
        "sealdog.xor.sealed",
        "sealdog.xor.outputs",
        "sealdog.xor.ckks.sealed",
        "sealdog.xor.ckks.outputs",
    },
}
NEVER_IN_SERVER = ("sealdog.trainer", "sealdog.client", "sealdog.experiments", "sealdog.data")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every sealdog module `path` imports, with `from pkg import mod` resolved to pkg.mod."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            submodules = [f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")]
            yield from submodules
            if len(submodules) < len(node.names):
                yield target


def _exists(module: str) -> bool:
    path = SRC.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:  # Alembic scripts, run by Alembic only
            continue
        graph[_module_name(path)] = {
            m for m in _imports(path) if (m == "sealdog" or m.startswith("sealdog.")) and _exists(m)
        }
    return graph


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _owner(module: str) -> str | None:
    """The most specific package of ALLOWED that `module` belongs to."""
    matches = [p for p in ALLOWED if _within(module, p)]
    return max(matches, key=len) if matches else None


GRAPH = _graph()


def test_the_graph_is_read() -> None:
    assert "sealdog.crypto.paillier.keys" in GRAPH
    assert "sealdog.crypto.paillier.keys" in GRAPH["sealdog.crypto.paillier"]
    assert "sealdog.mail.featuriser" in GRAPH["sealdog.server.kinds.linear"] | set().union(
        *(GRAPH[m] for m in GRAPH if _within(m, "sealdog.server.kinds"))
    )


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_map_allows(package: str) -> None:
    allowed = ALLOWED[package]
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _owner(module) == package
        for target in targets
        if not _within(target, package)
        and not any(_within(target, a) for a in allowed)
        and target != "sealdog"
    )
    assert not wrong, f"{package} may import only {sorted(allowed)}; found:\n" + "\n".join(wrong)


def test_crypto_imports_nothing_above_it() -> None:
    wrong = [
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if _within(m, "sealdog.crypto")
        for t in ts
        if not (_within(t, "sealdog.crypto") or t in BASE)
    ]
    assert not wrong, wrong


def test_mail_imports_nothing_of_sealdog() -> None:
    wrong = [
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if _within(m, "sealdog.mail")
        for t in ts
        if not _within(t, "sealdog.mail")
    ]
    assert not wrong, wrong


def test_server_never_imports_trainer_client_or_demos() -> None:
    wrong = [
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if _within(m, "sealdog.server")
        for t in ts
        if any(_within(t, p) for p in NEVER_IN_SERVER)
    ]
    assert not wrong, wrong


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative-free)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    # A package's __init__ re-exporting its own modules is not a circle of dependencies.
    graph = {
        m: {
            t
            for t in ts
            if not (PACKAGE.joinpath(*t.split(".")[1:], "__init__.py").is_file() and _within(m, t))
        }
        for m, ts in GRAPH.items()
    }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_is_on_the_map() -> None:
    """A new package must be given its row in ALLOWED (and docs/architecture.md)."""
    on_top = ("sealdog.client", "sealdog.cli", "sealdog.__main__")
    unmapped = [
        m
        for m in GRAPH
        if m != "sealdog" and _owner(m) is None and not any(_within(m, p) for p in on_top)
    ]
    assert unmapped == []
