"""The cost of authentication: get-by-alias with an API key against without, in
the same run.

Part of ``make bench`` (bench/registry_bench.py calls ``run``); alone: ``python -m
bench.auth_bench [--quick]``. Two servers in this process on one fresh database,
one without auth and one with auth on (no rate limit); the same SDK call
(``get_model_version(project, model, "production")``) through a client of each,
timed in blocks that alternate between the two (and an echo block before each
pair), so both see the same machine load. The keyed call pays for reading the
bearer metadata, the key cache, the token bucket and the permission rule; the
key's row is read once (then cached for MODELREG_AUTH_CACHE_S).

Target: p50 with a key at most 1.10x the p50 without.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import grpc

import modelreg
from bench.harness import ECHO_METHOD, ECHO_PAYLOAD, ROUNDS, Result, echo_server, share, timed
from modelreg_server.config import Settings
from modelreg_server.domain.access import Role
from modelreg_server.testing import ServerThread, fresh_database, make_key

CALL_TIMEOUT_S = 30.0
TARGET = 1.10


@dataclass(frozen=True)
class Figures:
    plain: Result
    keyed: Result

    @property
    def ratio(self) -> float:
        return self.keyed.percentile_ms(50) / self.plain.percentile_ms(50)


@contextmanager
def _server(url: str, **settings: object) -> Iterator[ServerThread]:
    base = Settings(listen="127.0.0.1:0", database_url=url)
    server = ServerThread(replace(base, **settings)).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def run(admin_url: str, echo_target: str, *, quick: bool, max_seconds: float) -> Figures:
    calls = 600 if quick else 3000
    with (
        fresh_database(admin_url) as url,
        _server(url) as plain_server,
        _server(url, auth=True, rate_limit_rps=0.0) as keyed_server,
        modelreg.Client(plain_server.target, timeout=CALL_TIMEOUT_S) as plain,
    ):
        project = f"auth_{uuid.uuid4().hex[:8]}"
        plain.create_project(project)
        plain.register_model_version(project, "served", artifact_uri="s3://b/s.pt")
        plain.set_alias(project, "served", "production", 1)
        token = make_key(url, project, Role.READER, owner="bench")
        with (
            modelreg.Client(keyed_server.target, timeout=CALL_TIMEOUT_S, api_key=token) as keyed,
            grpc.insecure_channel(echo_target) as channel,
        ):
            echo_stub = channel.unary_unary(ECHO_METHOD)

            def echo(_: int) -> object:
                return echo_stub(ECHO_PAYLOAD, timeout=CALL_TIMEOUT_S)

            def get_plain(_: int) -> object:
                return plain.get_model_version(project, "served", "production")

            def get_keyed(_: int) -> object:
                return keyed.get_model_version(project, "served", "production")

            for i in range(100):
                get_plain(i)
                get_keyed(i)
            gc.collect()
            samples: dict[str, list[float]] = {"plain": [], "keyed": []}
            walls = {"plain": 0.0, "keyed": 0.0}
            echo_samples: list[float] = []
            deadline = time.perf_counter() + max_seconds
            for r in range(ROUNDS * 2):
                if time.perf_counter() > deadline:
                    break
                n = share(calls, ROUNDS * 2, r)
                timed(echo, n // 2, 0, echo_samples)
                # Alternate which goes first, so neither always follows the echo block.
                order = ("plain", "keyed") if r % 2 == 0 else ("keyed", "plain")
                for name in order:
                    call = get_plain if name == "plain" else get_keyed
                    walls[name] += timed(call, n, 0, samples[name])
    echo_result = Result("echo (with auth)", sorted(echo_samples), 0.0)
    return Figures(
        plain=Result("get-by-alias", sorted(samples["plain"]), walls["plain"], echo=echo_result),
        keyed=Result(
            "get-by-alias+key", sorted(samples["keyed"]), walls["keyed"], echo=echo_result
        ),
    )


def print_figures(figures: Figures) -> None:
    ratio = figures.ratio
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print("authentication (same run, alternating blocks; one server without auth, one with)")
    for r in (figures.plain, figures.keyed):
        print(
            f"  {r.name:<18} p50 {r.percentile_ms(50):.3f} ms  p99 {r.percentile_ms(99):.3f} ms "
            f"= {r.ratio:.2f}x echo  ({r.calls} calls)"
        )
    print(
        f"  {verdict}  auth cost       p50 with a key = {ratio:.3f}x without "
        f"(+{(ratio - 1) * 100:.1f}%; target <= {TARGET:.2f}x)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.registry_bench import database_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    with database_server() as db, echo_server() as echo:
        figures = run(db.admin_url, echo.target, quick=args.quick, max_seconds=args.max_seconds)
    print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
