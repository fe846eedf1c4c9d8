"""Running the built image's services with buildah, as `docker run IMAGE service NAME` would.

Each service gets its own container from the image (``buildah from``: a fresh copy of its file
system), runs the image's own ENTRYPOINT with ``service NAME`` as its user (``buildah run`` with
chroot isolation and the host's network: the sandbox refuses the namespaces podman needs), and is
stopped as ``docker stop`` does it: SIGTERM to the container's first process, tini, which forwards
it to the service. (A SIGTERM to ``buildah run`` itself would SIGKILL tini and orphan the service.)
The store and the image name are those of ``scripts/image-env.sh``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ImageStore:
    image: str
    store: Path

    @classmethod
    def from_env(cls) -> ImageStore:
        return cls(os.environ.get("MAILFERRY_IMAGE") or "localhost/mailferry:local",
                   Path(os.environ.get("MAILFERRY_IMAGE_STORE") or ROOT / ".image"))

    def buildah(self, *args: str) -> list[str]:
        return ["buildah", "--storage-driver", "vfs", "--root", str(self.store / "storage"),
                "--runroot", str(self.store / "run"), *args]

    def run(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(self.buildah(*args), capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"buildah {args[0]} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def config(self) -> dict[str, Any]:
        """The image's Docker configuration (Entrypoint, Cmd, User, Env, Healthcheck, ...)."""
        return dict(json.loads(self.run("inspect", "--type", "image", self.image))["Docker"]["config"])

    def size(self) -> str:
        return self.run("images", "--format", "{{.Size}}", self.image).strip()


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid → (parent pid, command name, uid) of every process on the machine."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        uid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("Uid:")))
        table[int(entry.name)] = (ppid, comm, uid)
    return table


def _descendants(root: int, table: dict[int, tuple[int, str, int]]) -> list[int]:
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        children = [pid for pid, (ppid, _c, _u) in table.items() if ppid == parent]
        found += children
        todo += children
    return found


@dataclass
class ServiceContainer:
    """One service in its own container of the image."""

    service: str
    store: ImageStore
    env: dict[str, str]
    log: Path
    container: str = ""
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    exit_code: int | None = None
    killed: bool = False

    def create(self) -> None:
        name = f"mf-test-{self.service}-{secrets.token_hex(4)}"
        self.container = self.store.run("from", "--name", name, self.store.image).strip()
        # The environment goes into the container's configuration (as `docker run --env-file` would),
        # not on a command line where every process on the machine could read the secret key.
        self.store.run("config", *(a for k, v in self.env.items() for a in ("--env", f"{k}={v}")), self.container)

    def start(self) -> None:
        """The image's ENTRYPOINT with ``service NAME`` as its arguments, as `docker run IMAGE service NAME`."""
        cfg = self.store.config()
        command = [*cfg["Entrypoint"], "service", self.service]
        with self.log.open("ab") as out:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                self.store.buildah("run", "--isolation", "chroot", "--network", "host", self.container, "--",
                                   *command),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def processes(self) -> list[tuple[int, str, int]]:
        """(pid, name, uid) of the container's processes: its first process, tini, and what tini runs.
        (Chroot isolation: they live in the host's PID namespace, below ``buildah run``'s helpers.)"""
        assert self.proc is not None
        table = _process_table()
        below = _descendants(self.proc.pid, table)
        inits = [pid for pid in below if table[pid][1] == "tini"]
        return [(pid, table[pid][1], table[pid][2]) for pid in (*inits, *(d for i in inits
                                                                          for d in _descendants(i, table)))]

    def first_process(self) -> int:
        """The container's PID 1 as Docker would have it: the image's init, tini."""
        for _ in range(100):
            pids = [pid for pid, comm, _uid in self.processes() if comm == "tini"]
            if pids:
                return pids[0]
            time.sleep(0.1)
        raise AssertionError(f"no tini in the {self.service} container")

    def exec(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A second process in the running container (`docker exec`)."""
        return subprocess.run(self.store.buildah("run", "--isolation", "chroot", "--network", "host", self.container,
                                                 "--", *command),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self, grace: float = 30) -> int | None:
        """`docker stop`: SIGTERM to the first process and the exit code; past ``grace`` seconds, SIGKILL
        to everything in the container and None."""
        if self.proc is None or self.killed or self.exit_code is not None:
            return self.exit_code
        if self.proc.poll() is None:
            try:
                os.kill(self.first_process(), signal.SIGTERM)
                self.proc.wait(grace)
            except (AssertionError, subprocess.TimeoutExpired):
                self.killed = True
                for pid in _descendants(self.proc.pid, _process_table()):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(30)
                return None
        self.exit_code = self.proc.returncode
        return self.exit_code

    def remove(self) -> None:
        if self.container:
            self.store.run("rm", self.container)
            self.container = ""
