"""Several Warmline instances behind a real HAProxy, on one real Redis and one real PostgreSQL — the topology of
``deploy/compose.yaml``, run as processes on loopback (no Docker here).

Each instance is ``python -m uvicorn tests.integration.shared_script_app:create_app --factory`` with its own data
directory and rules file; HAProxy runs ``deploy/haproxy.cfg`` itself, with the instances' addresses replaced by
loopback ports. Instances keep their port across restarts, as containers keep their name.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ivr.config import REPO_ROOT
from ivr.simulator.local import free_port
from ivr.simulator.twilio import TwilioSimulator
from tests.integration.server_process import AUTH_TOKEN, SPEED, server_env, tail_of

HAPROXY_CFG = REPO_ROOT / "deploy" / "haproxy.cfg"
ADMIN_TOKEN = "cluster-admin-token"
APP = [sys.executable, "-m", "uvicorn", "tests.integration.shared_script_app:create_app", "--factory"]


@dataclass
class Instance:
    name: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    generation: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / f"server-{self.generation}.log"

    def logs(self) -> str:
        """Everything every generation of this instance logged."""
        return "".join(path.read_text(errors="replace") for path in sorted(self.data_dir.glob("server-*.log")))


@dataclass
class Cluster:
    root: Path
    database_url: str
    redis_url: str
    size: int = 3
    env: dict[str, str] = field(default_factory=dict)
    #: the server command (without host and port) and the Vosk model it loads (unused by the scripted app)
    app: list[str] = field(default_factory=lambda: list(APP))
    model: Path = REPO_ROOT
    instances: list[Instance] = field(default_factory=list)
    lb_port: int = 0
    api_port: int = field(default_factory=free_port)
    haproxy: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where Twilio sends everything: the load balancer."""
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def api_url(self) -> str:
        """Where the simulator stands in for Twilio's REST API (colleagues are rung through it)."""
        return f"http://127.0.0.1:{self.api_port}"

    def simulator(self, timeout_s: float = 120) -> TwilioSimulator:
        return TwilioSimulator(
            self.url, AUTH_TOKEN, speed=SPEED, timeout_s=timeout_s, api_url=self.api_url, transfer_speed=8.0
        )

    def _instance_env(self, instance: Instance) -> dict[str, str]:
        extra = {
            "IVR_PUBLIC_URL": self.url,
            "IVR_TWILIO_API_URL": self.api_url,
            "IVR_DATABASE_URL": self.database_url,
            "IVR_REDIS_URL": self.redis_url,
            "IVR_RULES_FILE": str(instance.data_dir / "rules.yaml"),
            "IVR_ADMIN_TOKEN": ADMIN_TOKEN,
            "IVR_SESSION_SECRET": "cluster-session-secret-shared-by-all-instances",
            "IVR_DRAIN_TIMEOUT_S": "2",
            "IVR_STREAM_CLAIM_S": "3",
            "IVR_INSTANCE_HEARTBEAT_S": "1",
            **self.env,
        }
        return server_env(instance.data_dir, self.lb_port, self.model, extra)

    def start(self, index: int, wait: bool = True) -> Instance:
        instance = self.instances[index]
        instance.generation += 1
        instance.data_dir.mkdir(parents=True, exist_ok=True)
        rules = instance.data_dir / "rules.yaml"
        if not rules.exists():
            shutil.copy(REPO_ROOT / "rules.yaml", rules)
        log = instance.log.open("wb")
        instance.process = subprocess.Popen(
            [*self.app, "--host", "127.0.0.1", "--port", str(instance.port)],
            cwd=REPO_ROOT,
            env=self._instance_env(instance),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if wait:
            self.wait_ready(index)
        return instance

    def wait_ready(self, index: int, timeout_s: float = 120) -> None:
        """Until the instance says ready and the load balancer has it back in rotation."""
        instance = self.instances[index]
        deadline = time.monotonic() + timeout_s
        while True:
            assert instance.process is not None
            if instance.process.poll() is not None:
                pytest.fail(f"{instance.name} exited with {instance.process.returncode}: {tail_of(instance.log)}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{instance.url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"{instance.name} did not get ready: {tail_of(instance.log)}")
            time.sleep(0.1)
        time.sleep(0.8)  # HAProxy: two passing checks 250 ms apart put it back in rotation

    def signal(self, index: int, sig: signal.Signals) -> subprocess.Popen[bytes]:
        process = self.instances[index].process
        assert process is not None
        process.send_signal(sig)
        return process

    def index_of_pid(self, pid: int) -> int:
        for index, instance in enumerate(self.instances):
            if instance.process is not None and instance.process.pid == pid:
                return index
        raise LookupError(pid)

    def _haproxy_config(self) -> str:
        text = HAPROXY_CFG.read_text(encoding="utf-8")
        text = text.replace("bind :8080", f"bind 127.0.0.1:{self.lb_port}")
        for number, instance in enumerate(self.instances, start=1):
            text = text.replace(f"warmline{number}:8000", f"127.0.0.1:{instance.port}")
        # fewer instances than the file names: the others go (a benchmark of one or two instances)
        return re.sub(r"^\s*server\s+\S+\s+warmline\d:8000.*$\n?", "", text, flags=re.MULTILINE)

    @contextmanager
    def running(self) -> Iterator[Cluster]:
        self.lb_port = free_port()
        self.instances = [
            Instance(f"warmline{number}", free_port(), self.root / f"warmline{number}")
            for number in range(1, self.size + 1)
        ]
        config = self.root / "haproxy.cfg"
        config.write_text(self._haproxy_config(), encoding="utf-8")
        try:
            # All at once against a fresh database: the migration must not race (advisory lock).
            for index in range(self.size):
                self.start(index, wait=False)
            for index in range(self.size):
                self.wait_ready(index)
            self.haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdout=(self.root / "haproxy.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 20
            while True:
                with suppress(httpx.HTTPError):
                    if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                        break
                if self.haproxy.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"haproxy did not start: {tail_of(self.root / 'haproxy.log')}")
                time.sleep(0.1)
            time.sleep(0.8)
            yield self
        finally:
            if self.haproxy is not None:
                self.haproxy.terminate()
                self.haproxy.wait(10)
            for instance in self.instances:
                if instance.process is not None and instance.process.poll() is None:
                    instance.process.terminate()
            for instance in self.instances:
                if instance.process is not None:
                    try:
                        instance.process.wait(30)
                    except subprocess.TimeoutExpired:
                        instance.process.kill()
                        instance.process.wait()
