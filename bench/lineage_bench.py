"""Lineage query latency over a graph of about 10,000 nodes, against the echo
baseline measured in the same run.

Part of ``make bench``: bench/registry_bench.py calls ``run`` after the production
figures, with the same echo server; alone (same database choice as the registry
bench): ``python -m bench.lineage_bench [--quick]``. A server process of its own
on a fresh database; the graph is bench/lineage_graph.py's (the one
tests/test_lineage_big_e2e.py checks), built through the API. Then ``GetLineage``
at depth 1, 3 and 5 (default node limit, 1,000), each timed in blocks interleaved
with echo blocks (bench/harness.py):

- lineage-up-dN: upstream from a deployment, "what data is behind what is in
  production now" (a handful of nodes: its version, the versions it was fine-tuned
  from, their batches, runs and raw data);
- lineage-down-dN: downstream from a raw dataset version that 198 batches derive
  from (199 nodes at depth 1; at depth 3 and 5 the walk reaches the 1,000-node
  limit and reports it).

No targets: the figures are reported as p50 and p99 ratios against the echo's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

import modelreg
from bench import lineage_graph, throughput
from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, ROUNDS, Result, echo_server, measure
from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg_server.testing import fresh_database

DEPTHS = (1, 3, 5)
CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Query:
    name: str
    request: rpc.GetLineageRequest
    nodes: int = 0  # returned by the checked call
    truncated: bool = False


@dataclass(frozen=True)
class Figures:
    graph_nodes: int
    build_s: float
    queries: list[Query]
    results: list[Result]


def _queries(built: lineage_graph.Built) -> list[Query]:
    out = []
    for label, start, direction in (
        ("up", built.deployments[0], rpc.LINEAGE_DIRECTION_UPSTREAM),
        ("down", built.raws[0], rpc.LINEAGE_DIRECTION_DOWNSTREAM),
    ):
        for depth in DEPTHS:
            request = rpc.GetLineageRequest(resource=start, direction=direction, depth=depth)
            out.append(Query(f"lineage-{label}-d{depth}", request))
    return out


def _checked(stub: Any, query: Query) -> Query:
    """The query with what its answer holds (the figure is of a real answer)."""
    response = stub.GetLineage(query.request, timeout=CALL_TIMEOUT_S)
    if not response.nodes or response.nodes[0].name != query.request.resource:
        raise AssertionError(f"{query.name}: no graph around {query.request.resource}")
    return Query(query.name, query.request, len(response.nodes), response.truncated)


def measure_queries(
    client: modelreg.Client,
    built: lineage_graph.Built,
    echo_target: str,
    calls: int,
    max_seconds: float,
) -> tuple[list[Query], list[Result]]:
    stub = client.lineage_stub
    queries = [_checked(stub, q) for q in _queries(built)]
    results = []
    with grpc.insecure_channel(echo_target) as channel:
        echo_stub = channel.unary_unary(ECHO_METHOD)

        def echo(_: int) -> object:
            return echo_stub(ECHO_PAYLOAD, timeout=10)

        for i in range(20):
            echo(i)
        for q in queries:
            request = q.request

            def lineage(_: int, request: rpc.GetLineageRequest = request) -> object:
                return stub.GetLineage(request, timeout=CALL_TIMEOUT_S)

            print(f"  measuring {q.name} ({q.nodes} nodes) against echo ...", flush=True)
            results.append(
                measure(
                    q.name,
                    lineage,
                    calls,
                    echo,
                    calls,
                    rounds=ROUNDS,
                    warmup=max(5, calls // 10),
                    max_seconds=max_seconds,
                )
            )
    return queries, results


def run(admin_url: str, echo_target: str, *, quick: bool, max_seconds: float) -> Figures:
    """Build the graph on a server process of its own and time the queries."""
    calls = 30 if quick else 200
    with (
        fresh_database(admin_url) as url,
        throughput.server_process(url, workers=1) as target,
        modelreg.Client(target, actor="bench", timeout=CALL_TIMEOUT_S) as client,
    ):
        project = f"lineage_bench_{uuid.uuid4().hex[:8]}"
        client.create_project(project)
        shape = lineage_graph.Shape()
        print(
            f"  building a lineage graph of {shape.nodes:,} nodes through the API ...", flush=True
        )
        began = time.perf_counter()
        built = asyncio.run(lineage_graph.build(target, project, shape))
        build_s = time.perf_counter() - began
        print(f"  ... in {build_s:.1f} s", flush=True)
        queries, results = measure_queries(client, built, echo_target, calls, max_seconds)
    return Figures(shape.nodes, build_s, queries, results)


def print_figures(f: Figures) -> None:
    print(
        f"lineage (GetLineage over {f.graph_nodes:,} nodes, built in {f.build_s:.1f} s; "
        "each against the echo interleaved with it)"
    )
    for q, r in zip(f.queries, f.results, strict=True):
        echo = r.echo or r
        p99_ratio = r.percentile_ms(99) / echo.percentile_ms(99)
        cut = ", truncated at 1,000" if q.truncated else ""
        stopped = " (stopped at --max-seconds)" if r.truncated else ""
        print(
            f"  info  {q.name:<16} p50 {r.percentile_ms(50):.3f} ms = {r.ratio:.2f}x echo, "
            f"p99 {r.percentile_ms(99):.3f} ms = {p99_ratio:.2f}x echo p99 "
            f"(echo p50 {echo.percentile_ms(50):.3f} ms; {q.nodes:,} nodes{cut}; "
            f"{r.calls} calls){stopped}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.registry_bench import database_server

    parser = argparse.ArgumentParser(prog="python -m bench.lineage_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 calls per query, not 200")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    with database_server() as db, echo_server() as echo:
        figures = run(db.admin_url, echo.target, quick=args.quick, max_seconds=args.max_seconds)
    print()
    print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
