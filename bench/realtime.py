"""Realtime: the latency from a write through the API to its event at the subscribers, PostgreSQL and MongoDB.

    .venv/bin/python bench/realtime.py [--events 400] [--rate 40] [--subscribers 4] [--workers 1]

(needs scripts/platform start and the toolchain). It brings up a platform stack, a growth tenant (PostgreSQL and
MongoDB) and one workspace with a `todos` table, registers a service key, starts `python -m executor` on a free
loopback port, opens `--subscribers` Server-Sent Events streams on `todos` (and as many on a Mongo collection),
then writes `--events` rows (documents) one by one through the executor's own API at `--rate` per second:

* write → subscriber: from just before the write request is sent to the moment each subscriber has parsed the
  event (the row read back under its role, or the document from the change stream), for every (write,
  subscriber) pair;
* write acknowledged: the write request's own latency, for comparison.

The writer, the subscribers, the executor and the servers share this machine: the figures are for this box.
It prints p50/p95/p99 and the max of each, then destroys everything it created.
"""

# ruff: noqa: E402 (the imports below must come after the sys.path fix)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/realtime.py`, this file's folder comes first on sys.path, and bench/executor.py would
# shadow the `executor` package: the repository instead (`bench` and `tests` are not installed packages).
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(entry for entry in sys.path if Path(entry or ".").resolve() != HERE)]

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import uvloop

from bench.workspace import bench_workspace
from tests.executor_world import running_executor

WAIT_S = 60.0
COLLECTION = "bench-events"


@dataclass
class Measured:
    label: str
    latencies: list[float] = field(default_factory=list)
    missing: int = 0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")

    def line(self) -> str:
        top = max(self.latencies) * 1000 if self.latencies else float("nan")
        return (
            f"  {self.label:<40} n {len(self.latencies):6d}   p50 {self.percentile(0.50):6.1f} ms   "
            f"p95 {self.percentile(0.95):6.1f} ms   p99 {self.percentile(0.99):6.1f} ms   max {top:6.1f} ms"
            f"   missing {self.missing}"
        )

    def summary(self) -> dict[str, float]:
        return {
            "n": len(self.latencies),
            "p50_ms": round(self.percentile(0.5), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "missing": self.missing,
        }


async def _subscriber(
    http: httpx2.AsyncClient, path: str, key: str, ready: asyncio.Event, arrived: dict[int, float], count: int
) -> None:
    """One SSE stream: records when the event of write n arrived, until all `count` have."""
    async with http.sse(path, headers={"apikey": key}) as source:
        assert source.response.status_code == 200, source.response.status_code
        async for event in source:
            if event.event == "ready":
                ready.set()
            elif event.event == "insert":
                now = time.perf_counter()
                payload = json.loads(event.data)
                body = payload.get("record") or payload.get("document") or {}
                arrived[int(body["n"] if "n" in body else body["data"]["n"])] = now
                if len(arrived) == count:
                    return
            elif event.event in ("error", "end"):
                raise RuntimeError(f"the stream ended: {event.data}")


async def measure(
    url: str, key: str, label: str, path: str, write: Callable[[httpx2.AsyncClient, int], Awaitable[None]], args: Any
) -> tuple[Measured, Measured]:
    limits = httpx2.Limits(max_connections=args.subscribers + 4)
    async with httpx2.AsyncClient(base_url=url, timeout=WAIT_S, limits=limits) as http:
        readies = [asyncio.Event() for _ in range(args.subscribers)]
        arrivals: list[dict[int, float]] = [{} for _ in range(args.subscribers)]
        streams = [
            asyncio.create_task(_subscriber(http, path, key, ready, arrived, args.events))
            for ready, arrived in zip(readies, arrivals, strict=True)
        ]
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(ready.wait() for ready in readies))
        sent: dict[int, float] = {}
        acknowledged = Measured(f"{label}: write acknowledged")
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        for n in range(args.events):
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
            sent[n] = time.perf_counter()
            await write(http, n)
            acknowledged.latencies.append(time.perf_counter() - sent[n])
        try:
            async with asyncio.timeout(WAIT_S):
                await asyncio.gather(*streams)
        except TimeoutError:
            for stream in streams:
                stream.cancel()
        delivered = Measured(f"{label}: write -> {args.subscribers} subscribers")
        for arrived in arrivals:
            for n, at in sent.items():
                if n in arrived:
                    delivered.latencies.append(arrived[n] - at)
                else:
                    delivered.missing += 1
        return delivered, acknowledged


async def _run(url: str, key: str, args: Any) -> dict[str, Any]:
    async def write_row(http: httpx2.AsyncClient, n: int) -> None:
        response = await http.post("/v1/collections/todos/documents", json={"data": {"n": n}}, headers={"apikey": key})
        assert response.status_code == 201, response.text

    async def write_document(http: httpx2.AsyncClient, n: int) -> None:
        path = f"/v1/mongo/collections/{COLLECTION}/documents"
        response = await http.post(path, json={"n": n}, headers={"apikey": key})
        assert response.status_code == 201, response.text

    async with httpx2.AsyncClient(base_url=url, timeout=WAIT_S) as http:  # the collection exists once written to
        await write_document(http, -1)
    results: dict[str, Any] = {}
    for label, path, write in (
        ("postgres", "/v1/realtime/collections/todos", write_row),
        ("mongo", f"/v1/realtime/mongo/collections/{COLLECTION}", write_document),
    ):
        delivered, acknowledged = await measure(url, key, label, path, write, args)
        print(delivered.line(), flush=True)
        print(acknowledged.line(), flush=True)
        results[label] = {"delivered": delivered.summary(), "acknowledged": acknowledged.summary()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--rate", type=float, default=40.0, help="writes per second")
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    with bench_workspace("rt", "growth") as workspace:
        update = {"workers": args.workers, "rate_limit_multiplier": 1000.0, "log_level": "warning"}
        with running_executor(workspace.executor.model_copy(update=update), workspace.root / "executor.log") as url:
            print(
                f"\n{args.events} writes at {args.rate:.0f}/s through the API, {args.subscribers} SSE subscribers "
                f"each, {args.workers} executor worker(s), loopback, {os.cpu_count()} CPUs",
                flush=True,
            )
            results = uvloop.run(_run(url, workspace.key.secret, args))
        print(json.dumps(results))


if __name__ == "__main__":
    main()
