"""Real servers for the tests: the Kafka-compatible broker and Redis, on free ports.

Started by the fixtures in ``conftest.py``; each stops with its fixture. Nothing
here is a mock: these are the same binaries ``mailferry up`` starts.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.stack import free_port, port_free, tansu_binary, wait_for_port


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    address: str
    argv: list[str] = field(default_factory=list)
    log: Path | None = None

    @property
    def port(self) -> int:
        return int(self.address.split("://")[-1].split("/")[0].rsplit(":", 1)[1])

    def start_again(self) -> None:
        """The same server on the same port (after :meth:`stop`): the outage tests bring it back."""
        deadline = time.monotonic() + 30
        while not port_free(self.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        with (self.log or Path("/dev/null")).open("ab") as fh:
            self.proc = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT)
        if not wait_for_port(self.port):
            raise RuntimeError(f"{self.argv[0]} did not start again")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_broker(log: Path, advertised_port: int = 0) -> Process:
    """The broker on a free port; ``advertised_port``: the port clients are told to use (a proxy's)."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port}" if advertised_port else url
    with log.open("wb") as fh:
        argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT)
    if not wait_for_port(port):
        proc.kill()
        raise RuntimeError(f"broker did not start: {log.read_text()[-2000:]}")
    return Process(proc, f"127.0.0.1:{port}", argv, log)


def start_redis(workdir: Path) -> Process:
    binary = shutil.which("redis-server")
    assert binary, "redis-server must be installed (make install does it)"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_port(port):
        proc.kill()
        raise RuntimeError("redis-server did not start")
    return Process(proc, f"redis://127.0.0.1:{port}/0", argv)
