"""The front door under load: `GET /api/items/{id}` and `POST /api/items/{id}/advance` against
`rectify serve --workers 4` on loopback, driven from a second process (httpx, asyncio, a few
connections at once); and the same transitions through `Service.advance` directly in the same
run, so the ratio shows what the web layer costs. Then a page render at 100,000 items.

Prints requests per second and p50/p99 latency per backend (SQLite, and PostgreSQL when
reachable). The ratio is taken on one client at a time (latency added per transition) and
under load (throughput). Target (issue 20): the API adds at most 2x to a direct advance; a
page renders in under 100 ms at p50 with 100,000 items.

Run: python bench/bench_web.py [--requests 2000] [--page-items 100000] [--pg URL]
     [--concurrency 8] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)
ORG = HERE.parent / "tests" / "fixtures" / "org.yaml"
PASSWORD = "correct horse battery"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --- the load generator (run as a second process) ---------------------------------------------

async def _load(base: str, headers: dict[str, str], calls: list[tuple[str, str, Any]],
                concurrency: int) -> dict[str, Any]:
    import httpx

    queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    latencies: list[float] = []
    bad: dict[int, int] = {}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            method, path, body = queue.get_nowait()
            start = time.perf_counter()
            answer = await client.request(method, path, json=body)
            latencies.append(time.perf_counter() - start)
            if answer.status_code != 200:
                bad[answer.status_code] = bad.get(answer.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=60) as client:
        await client.get("/openapi.json")  # connections warm
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"n": len(latencies), "rate": len(latencies) / elapsed, **_percentiles(latencies),
            "bad": bad}


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50": ordered[len(ordered) // 2] * 1000,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000}


def client_main(spec: str) -> None:
    args = json.loads(spec)
    result = asyncio.run(_load(args["base"], args["headers"], args["calls"],
                               args["concurrency"]))
    print(json.dumps(result))


def drive(base: str, headers: dict[str, str], calls: list[tuple[str, str, Any]],
          concurrency: int) -> dict[str, Any]:
    """Run the calls from a second process; its measurements come back as JSON."""
    spec = json.dumps({"base": base, "headers": headers, "calls": calls,
                       "concurrency": concurrency})
    done = subprocess.run([sys.executable, __file__, "--client", spec], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# --- the floor: HTTP on uvicorn with no framework and no work ----------------------------------

_FLOOR_BODY = b'{"id": 1, "state": "done"}'


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that reads the request and answers fixed JSON: what uvicorn, HTTP on loopback
    and the load generator cost before any framework, authentication or database."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": _FLOOR_BODY})


# --- setup ------------------------------------------------------------------------------------

def prepare(url: str, folder: Path, items: int, others: int) -> tuple[Any, str]:
    """`items` for 张三 (zhang) at 张庄村, then `others` for 周九 at 东关村 (the rest of the
    county's ledger, which the unit boards count and 张三's pages must not wade through)."""
    from rectify.engine.app import identity
    from rectify.engine.app.service import Service
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store.db import open_engine, upgrade
    from seeding import LADDER_WORKFLOW, seed

    engine = open_engine(url)
    upgrade(engine)
    service = Service(engine, FixedClock(NOW), files_dir=folder / "files")
    service.load_org(ORG)
    workflow = folder / "ladder.yaml"
    workflow.write_text(LADDER_WORKFLOW, "utf-8")
    version = service.load_workflow(workflow)[0]
    due = NOW + timedelta(days=10)
    seed(engine, version.id, "ladder", "rectifying", "village-a1", items, entered=NOW,
         due=due, step_at=due)
    if others:
        seed(engine, version.id, "ladder", "rectifying", "village-b1", others, entered=NOW,
             due=NOW - timedelta(days=1), step_at=None, assignee="zhou")
    for person in ("zhang", "qian"):
        identity.set_password(service, person, PASSWORD, min_length=10)
    if engine.dialect.name == "postgresql":  # what autovacuum does to a table this size:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # plans from statistics, not guesses
    return service, identity.create_token(service, "zhang", "bench")[1]


@contextmanager
def serving(url: str, folder: Path, workers: int):  # type: ignore[no-untyped-def]
    """`rectify serve --workers N` at the fixed time, until the block ends."""
    port = _free_port()
    with _server([sys.executable, "-m", "rectify.cli", "--db", url, "--now", NOW.isoformat(),
                  "serve", "--port", str(port), "--workers", str(workers)], folder,
                 port) as base:
        yield base


@contextmanager
def serving_bare(folder: Path, workers: int):  # type: ignore[no-untyped-def]
    """`bare` under uvicorn with the same workers, until the block ends."""
    port = _free_port()
    with _server([sys.executable, "-m", "uvicorn", "bench_web:bare", "--app-dir", str(HERE),
                  "--port", str(port), "--workers", str(workers), "--no-access-log",
                  "--log-level", "warning"], folder, port, probe="/") as base:
        yield base


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(argv: list[str], folder: Path, port: int, probe: str = "/openapi.json"):  # type: ignore[no-untyped-def]
    import httpx

    env = {**os.environ, "RECTIFY_FILES": str(folder / "files")}
    log = (folder / "serve.log").open("ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(base + probe, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(2)  # every worker up (each answers its first request slower)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def direct(service: Any, ids: range) -> dict[str, Any]:
    """The same transitions through the use case the CLI calls, in this process."""
    latencies = []
    start = time.perf_counter()
    for item_id in ids:
        t = time.perf_counter()
        service.advance(item_id, "zhang", "finish")
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    return {"n": len(ids), "rate": len(ids) / elapsed, **_percentiles(latencies), "bad": {}}


def run_backend(backend: str, args: argparse.Namespace) -> None:
    n, seq = args.requests, min(300, args.requests)
    mine = 2 * n + 2 * seq
    total = max(args.page_items, mine)
    from seeding import fresh_database

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp, \
            fresh_database(backend, Path(tmp), args.pg) as url:
        folder = Path(tmp)
        service, token = prepare(url, folder, mine, total - mine)
        bearer = {"Authorization": f"Bearer {token}"}
        ids = iter(range(1, mine + 1))
        with serving(url, folder, args.workers) as base:
            def take(k: int) -> range:
                first = next(ids)
                for _ in range(k - 1):
                    next(ids)
                return range(first, first + k)

            show = [("GET", f"/api/items/{i}", None) for i in range(1, n + 1)]
            fire = [("POST", f"/api/items/{i}/advance", {"trigger": "finish"})
                    for i in take(n)]
            one = [("POST", f"/api/items/{i}/advance", {"trigger": "finish"})
                   for i in take(seq)]
            results = {
                "GET item, loaded": drive(base, bearer, show, args.concurrency),
                "advance, loaded": drive(base, bearer, fire, args.concurrency),
                "advance, one client": drive(base, bearer, one, 1),
                "advance, direct": direct(service, take(seq)),
                "openapi.json, one client": drive(base, bearer, [("GET", "/openapi.json", None)]
                                                  * seq, 1),
            }
            pages = [("zhang", "/items/1"), ("qian", f"/items/{total}"), ("zhang", "/"),
                     ("qian", "/units/county"), ("qian", "/units/town-b"), ("qian", "/")]
            cookies = {person: _login(base, person) for person in ("zhang", "qian")}
            for person, page in pages:
                calls = [("GET", page, None)] * 100
                results[f"{person} {page}"] = drive(base, cookies[person], calls, 1)
        with serving_bare(folder, args.workers) as base:
            results["floor: bare ASGI, one client"] = drive(
                base, bearer, [("POST", "/", {"trigger": "finish"})] * seq, 1)
        service.engine.dispose()
    _print(backend, total, args, results)


def _login(base: str, person: str) -> dict[str, str]:
    import httpx

    answer = httpx.post(base + "/api/login", json={"person": person, "password": PASSWORD})
    answer.raise_for_status()
    return {"Cookie": f"rectify_session={answer.cookies['rectify_session']}"}


def _print(backend: str, total: int, args: argparse.Namespace,
           results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{backend}: {total:,} items, {args.workers} workers, "
          f"{args.concurrency} connections when loaded")
    print(f"  {'what':<34} {'n':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  not 200")
    for name, r in results.items():
        print(f"  {name:<34} {r['n']:>6} {r['rate']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}"
              f"  {r['bad'] or ''}")
    api, own = results["advance, one client"], results["advance, direct"]
    print(f"  API / direct advance, one at a time: p50 {api['p50'] / own['p50']:.2f}x, "
          f"rate {own['rate'] / api['rate']:.2f}x (target <= 2x)")
    floor = results["floor: bare ASGI, one client"]
    least = (floor["p50"] + own["p50"]) / own["p50"]
    print(f"  floor (HTTP + uvicorn + this client, no work) / direct advance: p50 "
          f"{floor['p50'] / own['p50']:.2f}x; floor + direct = {least:.2f}x a direct advance, "
          f"the least any HTTP front could add before framework, login and answer")
    loaded = results["advance, loaded"]
    print(f"  API advance loaded vs direct (one process): rate "
          f"{loaded['rate'] / own['rate']:.2f}x of direct")


def _pg_ok(url: str) -> bool:
    try:
        from sqlalchemy import create_engine, text

        with create_engine(url).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--page-items", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pg", default=os.environ.get("RECTIFY_TEST_PG", PG))
    args = parser.parse_args()
    if args.client:
        client_main(args.client)
        return
    print(f"load average: {os.getloadavg()}")
    for backend in ("sqlite", "postgres"):
        if backend == "postgres" and not _pg_ok(args.pg):
            print("postgres: not reachable, skipped")
            continue
        run_backend(backend, args)


if __name__ == "__main__":
    main()
