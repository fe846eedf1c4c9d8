"""Real servers for the tests: the Kafka-compatible broker and Redis, on free ports.

Started by the fixtures in ``conftest.py``; each stops with its fixture. Nothing
here is a mock: these are the same binaries ``mailferry up`` starts.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mailferry.stack import free_port, tansu_binary, wait_for_port


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    address: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_broker(log: Path) -> Process:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("wb") as fh:
        proc = subprocess.Popen([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                                stdout=fh, stderr=subprocess.STDOUT)
    if not wait_for_port(port):
        proc.kill()
        raise RuntimeError(f"broker did not start: {log.read_text()[-2000:]}")
    return Process(proc, f"127.0.0.1:{port}")


def start_redis(workdir: Path) -> Process:
    binary = shutil.which("redis-server")
    assert binary, "redis-server must be installed (make install does it)"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_port(port):
        proc.kill()
        raise RuntimeError("redis-server did not start")
    return Process(proc, f"redis://127.0.0.1:{port}/0")
