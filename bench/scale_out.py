"""Scale-out benchmark (issue 16): replicas on one PostgreSQL behind nginx, and the CLI.

In one run, with the same sealed model (logistic regression on Enron-Spam enron1, as in
bench/server_load.py; generated e-mails when the corpus is absent) and the same load
(64-e-mail inbox batches from `--clients` concurrent HTTP clients):

  (a) one replica (`sealdog server run`, one worker, one scoring process per lane) = the
      baseline;
  (b) two such replicas behind nginx (generated config, loopback), one PostgreSQL, the
      blob store in PostgreSQL (SEALDOG_BLOB_STORE=postgres);
  (c) `sealdog score` (a subprocess, its default --concurrency) on --cli-emails e-mails
      from a folder, against (b): e-mails/s with its start-up (interpreter, imports,
      listing the folder) and from its own progress line (first batch to last);
  (d) Ray bulk scoring on 1 and 2 CPUs over 10,000 e-mails, the test e-mails cycled
      (bench/bulk_ray.py; `--ray-emails`; null without the `ray` extra);
  then a durability phase: replica A is SIGKILLed while clients write through nginx,
  retrying a batch after a connection failure or a 502/503/504 with its Idempotency-Key as
  the Sealdog client does; afterwards every acknowledged batch must be in the inbox
  (`lost_verdicts`) and none twice (`duplicated_batches`).

A replica is one unit of one core. A replica is a uvicorn worker plus its scoring
processes (a normal lane and a heavy lane, which also takes normal batches when idle), so
left alone "one replica" already keeps both cores of a 2-core box busy and (b) has nothing
to add. Each replica's process tree is therefore pinned to its own core
(os.sched_setaffinity, inherited by its scoring processes; `--no-pin` to compare): (a) is
one core's worth, (b) two. On a real deployment a replica gets N cores and N scoring
processes; the per-core figures carry over. nginx, PostgreSQL, the load clients and the
CLI are not pinned: whatever they cost comes out of the replicas' cores.

CPU accounting, independent of the machine's load: for each phase the CPU seconds of each
group of processes (from /proc, bench/cputime.py: replica workers, scoring processes,
nginx, PostgreSQL postmaster and backends, the load clients = this process's threads, the
CLI) are printed as CPU-ms per e-mail and stored in the JSON line (`cpu_ms_per_email`).
The load generator stands for the mail gateway, which runs elsewhere: it sends request
bodies serialised before the clock starts over plain keep-alive http.client connections.

Targets: two_replicas_eps >= 1.7 x one_replica_eps; cli_eps >= 0.8 x two_replicas_eps;
lost_verdicts = 0 (and duplicated_batches = 0, errors = 0). Ratios are printed against
(a), measured in the same run.

Needs PostgreSQL (SEALDOG_BENCH_POSTGRES_URL or SEALDOG_TEST_POSTGRES_URL; each scenario
gets a fresh schema; when it runs on this machine its processes are counted) and nginx.
Full run (3072-bit key, 48 batches per load, 2,000 e-mails for the CLI, Ray; about 6-8
minutes on a quiet 2-core machine), from the repository root:

    bash -c 'source .ci/postgres.sh && SEALDOG_DATA=/work/shared/datasets/enron-spam \
        PYTHONPATH=src python bench/scale_out.py'

(`--quick`: 2048-bit key, 16 batches, 400 e-mails for the CLI: a few minutes.)
Last line: {"bench": "scale_out", "key_bits": ..., "one_replica_eps": ...,
"two_replicas_eps": ..., "cli_eps": ..., "cli_steady_eps": ..., "ray_eps": {"1": ...,
"2": ...}, "lost_verdicts": ..., "duplicated_batches": ..., "errors": ..., "pinned": ...,
"cpu_ms_per_email":
{"a": {group: ms}, "b": {...}, "c": {...}}, "cpu_bound_ratios": {"two_over_one": ...,
"cli_over_two": ...}} (cpu_bound_ratios: what the CPU-ms alone allow on 2 cores, see
`cpu_bound_ratios`; a check on the wall-time ratios of a noisy run)
"""

from __future__ import annotations

import argparse
import base64
import collections
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cputime
from server_load import build_model, load_emails

from sealdog.client.local_nginx import LocalNginx, find_nginx
from sealdog.client.local_server import LocalServer
from sealdog.server.storage.database import make_engine

BATCH = 64


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A URL whose search_path is a new schema (dropped afterwards)."""
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def replicas(root: Path, url: str, n: int, demo: bool, pin: bool) -> Iterator[list[LocalServer]]:
    """`n` replicas on one database; with `pin`, replica i's whole process tree (uvicorn
    worker and scoring processes) is pinned to core i, so a replica is one core's worth."""
    ncpu = os.cpu_count() or 1
    with ExitStack() as stack:
        servers: list[LocalServer] = []
        for i in range(n):
            server = LocalServer(
                root / f"replica{i}",
                insecure_demo=demo,
                workers=1,
                scoring_processes=1,
                database_url=url,
                blob_store="postgres",
                admin_token=servers[0].admin_token if servers else None,
                ready_timeout=120,
                cpus=frozenset({i % ncpu}) if pin else None,
            )
            servers.append(stack.enter_context(server))
        yield servers


def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL postmaster (parent of our backend), whose tree is every backend; read
    while the backend lives. None when PostgreSQL runs elsewhere (not in our /proc)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            table = cputime.process_table()
    finally:
        engine.dispose()
    return table[backend][0] if backend in table else None


def cpu_groups(
    servers: list[LocalServer], lb: LocalNginx | None, postmaster: int | None
) -> cputime.CpuMeter:
    """CPU seconds per group of processes: the replicas' uvicorn workers (and their
    supervisor), their scoring processes, nginx, PostgreSQL (postmaster and every backend),
    the load clients (this process's own threads) and the CLI (this process's reaped
    children: only the `sealdog score` subprocess is reaped inside a phase)."""
    roots = [s.pid for s in servers if s.pid is not None]
    me = os.getpid()
    groups: dict[str, Callable[[cputime.Table], float]] = {
        "replica workers": lambda t: cputime.tree_cpu(roots, t, keep=_not_scoring),
        "scoring processes": lambda t: cputime.tree_cpu(roots, t, keep=cputime.is_scoring),
        "postgresql": lambda t: cputime.tree_cpu([postmaster], t) if postmaster else 0.0,
        "load clients": lambda t: t[me][1],
        "cli": lambda t: t[me][2],
    }
    if lb is not None and lb.pid is not None:
        lb_pid = lb.pid
        groups["nginx"] = lambda t: cputime.tree_cpu([lb_pid], t)
    return cputime.CpuMeter(groups)


def _not_scoring(cmdline: str) -> bool:
    return not cputime.is_scoring(cmdline)


def report_cpu(phase: str, cpu: dict[str, float], emails: int, wall: float) -> dict[str, float]:
    """Print CPU-ms per e-mail per group (the load-independent cost) and return it."""
    per = {name: round(1000 * sec / emails, 2) for name, sec in cpu.items() if sec > 0}
    total = sum(cpu.values())
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in per.items())
    print(
        f"    {phase} CPU-ms per e-mail: {parts}; total {1000 * total / emails:.2f} "
        f"({total / wall:.2f} cores busy over {wall:.1f} s)",
        flush=True,
    )
    return per


def cpu_bound_ratios(cpu_ms: dict[str, dict[str, float]]) -> dict[str, float]:
    """The ratios a CPU-bound run would reach, from the CPU-ms per e-mail alone: (a) has one
    core for everything it spends, (b) and (c) have two (what nginx, PostgreSQL, the
    clients or the CLI spend is taken from the replicas' cores). Independent of the load
    on the machine, unlike the e-mails/s ratios."""
    total = {phase: sum(groups.values()) for phase, groups in cpu_ms.items()}
    return {
        "two_over_one": round(2 * total["a"] / total["b"], 2),
        "cli_over_two": round(total["b"] / total["c"], 2),
    }


def owner_token(base: str, admin: str) -> str:
    r = httpx.post(
        base + "/v1/tokens",
        json={"role": "owner", "subject": "bench"},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=60,
    )
    r.raise_for_status()
    return str(r.json()["token"])


def upload(base: str, token: str, model: bytes) -> str:
    r = httpx.post(
        base + "/v1/models",
        content=model,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        timeout=900,
    )
    r.raise_for_status()
    return str(r.json()["id"])


def bodies(batches: list[list[bytes]], tag: str) -> list[bytes]:
    """Request bodies, serialised once before any timing."""
    return [
        json.dumps(
            {
                "delivery": "inbox",
                "emails": [
                    {"base64": base64.b64encode(m).decode(), "message_id": f"{tag}-{i}-{j}"}
                    for j, m in enumerate(batch)
                ],
            }
        ).encode()
        for i, batch in enumerate(batches)
    ]


# Each scoring process counts the buckets of its first 500 e-mails before it builds its
# subset-product tables (crypto/paillier/subset_products.py, DEFAULT_LEARN_EMAILS) and takes
# the plain path until then; a replica has two scoring processes (normal and heavy lane).
WARM_EMAILS_PER_PROCESS = 640
SCORING_PROCESSES_PER_REPLICA = 2


def warm(urls: list[str], token: str, model_id: str, body: bytes) -> None:
    """Bring every replica's scoring processes to their steady state before timing: the
    model loaded (blob fetched) and the subset tables built. Two connections per replica
    keep both of its scoring processes busy, so each sees its share of the warm-up."""
    per_connection = -(-WARM_EMAILS_PER_PROCESS // BATCH)
    failures: list[str] = []

    def run(url: str) -> None:
        client = LoadClient(url, f"/v1/models/{model_id}/score", token)
        try:
            for _ in range(per_connection):
                status = client.post(body)
                if status != 202:
                    failures.append(f"warm-up request to {url} answered {status}")
                    return
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"warm-up request to {url} failed: {exc}")
        finally:
            client.close()

    threads = [
        threading.Thread(target=run, args=(url,))
        for url in urls
        for _ in range(SCORING_PROCESSES_PER_REPLICA)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError("; ".join(failures))


class LoadClient:
    """One keep-alive HTTP/1.1 connection (http.client, no framework) that sends
    pre-serialised request bodies: the load generator stands for the mail gateway, which
    runs elsewhere, so it must cost the benchmark's cores as little as possible."""

    def __init__(self, url: str, path: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = path
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, key: str | None = None) -> int:
        """The answer's status; raises OSError/HTTPException on a connection failure."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=900)
        headers = self.headers if key is None else {**self.headers, "Idempotency-Key": key}
        try:
            self.conn.request("POST", self.path, body=body, headers=headers)
            resp = self.conn.getresponse()
            resp.read()
            return resp.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


RETRY_STATUSES = (502, 503, 504)


def load(
    url: str,
    token: str,
    model_id: str,
    payloads: list[bytes],
    clients: int,
    *,
    retry: bool = False,
) -> tuple[float, int, list[int]]:
    """(e-mails/s, errors, indices of the acknowledged payloads) for `payloads` sent by
    `clients` threads, each with its own keep-alive connection. With `retry`, as the
    Sealdog client does: each payload carries its own Idempotency-Key and is resent (up to
    4 attempts, backing off) after a connection failure or a 502/503/504."""
    errors = 0
    acked: list[int] = []
    lock = threading.Lock()
    todo = iter(range(len(payloads)))

    def run() -> None:
        nonlocal errors
        client = LoadClient(url, f"/v1/models/{model_id}/score", token)
        try:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                key = uuid.uuid4().hex if retry else None
                ok = False
                for attempt in range(4 if retry else 1):
                    if attempt:
                        time.sleep(0.25 * 2 ** (attempt - 1))
                    try:
                        status = client.post(payloads[i], key)
                    except (OSError, http.client.HTTPException):
                        continue
                    ok = status == 202
                    if status not in RETRY_STATUSES:
                        break
                with lock:
                    if ok:
                        acked.append(i)
                    else:
                        errors += 1
        finally:
            client.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return BATCH * len(payloads) / elapsed, errors, acked


def inbox_ids(url: str, token: str, model_id: str) -> collections.Counter[str]:
    """How often each batch (by its first message id) is in the model's inbox."""
    found: collections.Counter[str] = collections.Counter()
    after = "0"
    with httpx.Client(base_url=url, timeout=120) as c:
        while True:
            r = c.get(
                f"/v1/models/{model_id}/verdicts",
                params={"after": after, "limit": 500},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            page = r.json()
            if not page["entries"]:
                return found
            found.update(e["message_ids"][0] for e in page["entries"])
            after = page["next_cursor"]


_PROGRESS_DONE = re.compile(rb"done, .* ([\d,.]+) e-mails/s in ([\d.]+) s")


def cli_score(
    url: str, token: str, model_id: str, folder: Path, n: int
) -> tuple[float, int, float, float | None]:
    """(e-mails/s start-up included, exit status, seconds, e-mails/s from the CLI's own
    progress line: from its first batch to its last, without interpreter start-up, imports
    and listing the folder) of `sealdog score FOLDER` (inbox delivery, default
    --concurrency)."""
    env = {**os.environ, "SEALDOG_URL": url, "SEALDOG_TOKEN": token}
    cmd = [sys.executable, "-m", "sealdog.cli", "score", str(folder), "-m", model_id]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    done = _PROGRESS_DONE.search(proc.stderr)
    steady = float(done.group(1).replace(b",", b"")) if done else None
    return n / elapsed, proc.returncode, elapsed, steady


def ray_figures(model_bytes: bytes, emails: list[bytes], n: int) -> dict[str, float | None]:
    """(d) `sealdog bulk score`'s engine (`sealdog.bulk.job.run_bulk`) on a local Ray with 1
    and 2 CPUs: steady e-mails/s over `n` e-mails (the test e-mails cycled), laid out and
    measured as bench/bulk_ray.py does (which also compares them with the in-process
    scorer). An archive run is long: on the 1,000 distinct test e-mails alone, each of two
    workers would spend its whole share learning its subset-product tables (its first 500
    e-mails), which a real archive pays once per worker. Null without the `ray` extra."""
    try:
        import ray  # noqa: F401
    except ImportError:
        print("(d) skipped: the `ray` extra is not installed", file=sys.stderr)
        return {"1": None, "2": None}
    from bulk_ray import ray_eps, write_boxes  # this folder's bench/bulk_ray.py

    work = Path(tempfile.mkdtemp(prefix="sealdog-scale-ray-"))
    try:
        folders = write_boxes([emails[i % len(emails)] for i in range(n)], work)
        return {str(c): round(ray_eps(model_bytes, folders, c, False)[0], 1) for c in (1, 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measured(
    meter: cputime.CpuMeter, run: Callable[[], tuple[float, int, list[int]]]
) -> tuple[float, int, list[int], dict[str, float], float]:
    meter.start()
    t = time.perf_counter()
    eps, errs, acked = run()
    wall = time.perf_counter() - t
    return eps, errs, acked, meter.stop(), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    parser.add_argument("--key-bits", type=int, default=None, help="default 3072 (quick 2048)")
    parser.add_argument("--batches", type=int, default=None, help="64-e-mail batches per load")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--cli-emails", type=int, default=None, help="default 2000 (quick 400)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin each replica to its own core"
    )
    parser.add_argument("--skip-ray", action="store_true", help="leave out (d), Ray")
    parser.add_argument(
        "--ray-emails", type=int, default=None, help="(d)'s e-mails: default 10000 (quick 2000)"
    )
    args = parser.parse_args()

    pg = (
        args.database_url
        or os.environ.get("SEALDOG_BENCH_POSTGRES_URL")
        or os.environ.get("SEALDOG_TEST_POSTGRES_URL")
    )
    if not pg:
        sys.exit("needs PostgreSQL: source .ci/postgres.sh first, or pass --database-url")
    if find_nginx() is None:
        sys.exit("needs nginx (apt-get install nginx)")
    key_bits = args.key_bits or (2048 if args.quick else 3072)
    n_batches = args.batches or (16 if args.quick else 48)
    n_cli = args.cli_emails or (400 if args.quick else 2000)
    demo = key_bits < 2048
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2

    t0 = time.perf_counter()
    test, train, labels, source = load_emails(500, 400 if args.quick else 1500)
    model_bytes, _ = build_model(train, labels, key_bits, max_terms=4000 if args.quick else 20000)
    batches = [[test[(i * BATCH + j) % len(test)] for j in range(BATCH)] for i in range(n_batches)]
    print(
        f"data: {source}; {key_bits}-bit key; model {len(model_bytes) / 1e6:.1f} MB; "
        f"{n_batches} x {BATCH} e-mails per load, {args.clients} clients; replicas "
        f"{'pinned to one core each' if pin else 'not pinned'} "
        f"(setup {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    errors = 0
    cpu_ms: dict[str, dict[str, float]] = {}
    n_load = BATCH * n_batches
    postmaster = postmaster_pid(pg)
    with tempfile.TemporaryDirectory(prefix="sealdog-scale-") as tmp:
        root = Path(tmp)
        mail = root / "mail"
        mail.mkdir()
        for i in range(n_cli):
            (mail / f"{i:05}.eml").write_bytes(test[i % len(test)])

        # (a) one replica, one worker
        with fresh_schema(pg) as url, replicas(root / "a", url, 1, demo, pin) as (one,):
            token = owner_token(one.url, one.admin_token)
            model_id = upload(one.url, token, model_bytes)
            warm([one.url], token, model_id, bodies(batches[:1], "warm")[0])
            payloads = bodies(batches, "a")
            one_eps, errs, _, cpu, wall = measured(
                cpu_groups([one], None, postmaster),
                lambda: load(one.url, token, model_id, payloads, args.clients),
            )
            errors += errs
        print(f"(a) one replica:              {one_eps:8.1f} e-mails/s", flush=True)
        cpu_ms["a"] = report_cpu("(a)", cpu, n_load, wall)

        # (b) two replicas behind nginx, (c) the CLI against them, then a replica killed
        with (
            fresh_schema(pg) as url,
            replicas(root / "b", url, 2, demo, pin) as pair,
            LocalNginx(root / "nginx", [s.url for s in pair]) as lb,
        ):
            token = owner_token(lb.url, pair[0].admin_token)
            model_id = upload(lb.url, token, model_bytes)
            warm([s.url for s in pair], token, model_id, bodies(batches[:1], "warm")[0])
            meter = cpu_groups(pair, lb, postmaster)
            payloads = bodies(batches, "b")
            two_eps, errs, _, cpu, wall = measured(
                meter, lambda: load(lb.url, token, model_id, payloads, args.clients)
            )
            errors += errs
            print(
                f"(b) two replicas + nginx:     {two_eps:8.1f} e-mails/s "
                f"= {two_eps / one_eps:.2f} x (a) (target >= 1.7)",
                flush=True,
            )
            cpu_ms["b"] = report_cpu("(b)", cpu, n_load, wall)
            meter.start()
            cli_eps, status, cli_wall, cli_steady = cli_score(lb.url, token, model_id, mail, n_cli)
            cpu = meter.stop()
            errors += status != 0
            print(
                f"(c) sealdog score, {n_cli} e-mails: {cli_eps:8.1f} e-mails/s "
                f"= {cli_eps / two_eps:.2f} x (b) (target >= 0.8), start-up included; "
                f"{cli_steady or float('nan'):.1f} e-mails/s from its first batch to its last "
                f"= {(cli_steady or float('nan')) / two_eps:.2f} x (b)",
                flush=True,
            )
            cpu_ms["c"] = report_cpu("(c)", cpu, n_cli, cli_wall)
            cpu_bound = cpu_bound_ratios(cpu_ms)
            print(
                "    if CPU were the only limit (2 cores, everything on them): (b)/(a) "
                f"{cpu_bound['two_over_one']:.2f}, (c)/(b) {cpu_bound['cli_over_two']:.2f} "
                "(from the CPU-ms above, not from wall time)",
                flush=True,
            )

            # durability: kill replica 0 while clients write through nginx, retrying as the
            # Sealdog client does (Idempotency-Key): every batch acknowledged, stored once
            payloads = bodies(batches, "kill")
            killer = threading.Timer(2.0, pair[0].kill)
            killer.start()
            _, kill_errors, acked = load(
                lb.url, token, model_id, payloads, args.clients, retry=True
            )
            killer.join()
            stored = inbox_ids(lb.url, token, model_id)
            mine = [f"kill-{i}-0" for i in range(len(payloads))]
            lost = sum(1 for i in acked if stored[f"kill-{i}-0"] == 0)
            twice = sum(max(0, stored[m] - 1) for m in mine)
            errors += kill_errors
            print(
                f"replica killed mid-run: {len(acked)}/{len(payloads)} batches acknowledged "
                f"(retried through nginx with their Idempotency-Key), {kill_errors} not; "
                f"{lost} acknowledged lost (target 0), {twice} stored twice",
                flush=True,
            )
    ray: dict[str, float | None] = (
        {"1": None, "2": None}
        if args.skip_ray
        else ray_figures(model_bytes, test, args.ray_emails or (2000 if args.quick else 10000))
    )
    print(
        json.dumps(
            {
                "bench": "scale_out",
                "key_bits": key_bits,
                "one_replica_eps": round(one_eps, 1),
                "two_replicas_eps": round(two_eps, 1),
                "cli_eps": round(cli_eps, 1),
                "cli_steady_eps": cli_steady,
                "ray_eps": ray,
                "lost_verdicts": lost,
                "duplicated_batches": twice,
                "errors": errors,
                "pinned": pin,
                "cpu_ms_per_email": cpu_ms,
                "cpu_bound_ratios": cpu_bound,
            }
        )
    )


if __name__ == "__main__":
    main()
