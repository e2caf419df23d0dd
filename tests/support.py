"""Test-only helpers shared by several test modules."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
_READY = re.compile(r"^modelreg serving on (127\.0\.0\.1:\d+)$")


class ServerProcess:
    """``python -m modelreg_server`` as a child process; stderr goes to ``log``."""

    def __init__(self, args: list[str], *, cwd: Path, log: Path) -> None:
        self.log = log
        # The child must not pick up a database, listen address or grace from the caller.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        env["MODELREG_SHUTDOWN_GRACE"] = "2"
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelreg_server", "--listen", "127.0.0.1:0", *args],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=cwd,
                env=env,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def stderr_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> str:
        """The ``host:port`` the server printed once it was ready."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"server not ready within {timeout}s; stderr:\n{self.stderr_tail()}"
                ) from None
            if line is None:
                code = self.proc.wait(timeout=STOP_TIMEOUT_S)
                raise AssertionError(f"server exited with {code}; stderr:\n{self.stderr_tail()}")
            match = _READY.match(line)
            if match:
                return match.group(1)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=timeout)
