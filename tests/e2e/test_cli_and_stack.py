"""The commands users and scripts run: `mailferry up/down` (twice each), `migrate`, `status`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from mailferry import stack
from mailferry.stack import StackInfo
from tests.conftest import Accounts

CLI = [sys.executable, "-m", "mailferry.cli"]


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_up_and_down_start_everything_and_are_safe_twice(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
    env.update({"MAILFERRY_STATE_DIR": str(tmp_path / "state"), "MAILFERRY_INTAKE_PORT": str(stack.free_port())})
    first = run(["up"], env)
    assert first.returncode == 0, first.stderr
    try:
        url = f"http://127.0.0.1:{env['MAILFERRY_INTAKE_PORT']}"
        assert f"started: intake at {url}" in first.stdout
        assert httpx.get(f"{url}/readyz").status_code == 200
        info = StackInfo.load(tmp_path / "state")
        assert info is not None
        assert set(info.processes) == {"broker", "redis", "intake", "extractor", "loader", "tracker"}
        pids = [p for ps in info.processes.values() for p in ps]
        assert all(stack.alive(p) for p in pids)
        second = run(["up"], env)
        assert second.returncode == 0 and "already running" in second.stdout
        assert (tmp_path / "state" / "logs" / "loader.log").exists()
    finally:
        down = run(["down"], env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not any(stack.alive(p) for p in pids)
    again = run(["down"], env)
    assert again.returncode == 0 and "nothing was running" in again.stdout


def test_migrate_and_status_commands(running_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        for i in range(3):
            c.append("INBOX", f"Subject: cli {i}\r\n\r\nbody\r\n".encode())
    env = {**os.environ, "SRC_PW": accounts.passwords[src], "DST_PW": accounts.passwords[dst]}
    port = str(accounts.server.imap_port)
    result = run(["migrate", "--api", running_stack.intake_url,
                  "--source-host", "127.0.0.1", "--source-port", port, "--source-security", "none",
                  "--source-login", src, "--source-password-env", "SRC_PW",
                  "--target-host", "127.0.0.1", "--target-port", port, "--target-security", "none",
                  "--target-login", dst, "--target-password-env", "DST_PW"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed" in result.stdout and "3/3" in result.stdout
    mid = result.stdout.split("migration ID: ")[1].split()[0]
    assert accounts.passwords[src] not in result.stdout + result.stderr
    status = run(["status", mid, "--login", src, "--api", running_stack.intake_url, "--json"], env)
    assert status.returncode == 0 and '"state": "completed"' in status.stdout
    missing = run(["status", mid, "--login", dst, "--api", running_stack.intake_url], env)
    assert missing.returncode == 1 and "no migration" in missing.stderr
    refused = run(["migrate", "--api", running_stack.intake_url, "--no-follow",
                   "--source-host", "127.0.0.1", "--source-port", port, "--source-security", "none",
                   "--source-login", src, "--source-password-env", "DST_PW",
                   "--target-host", "127.0.0.1", "--target-port", port, "--target-security", "none",
                   "--target-login", dst, "--target-password-env", "DST_PW"], env)
    assert refused.returncode == 2 and "refused (source)" in refused.stderr


def test_pst_import_command(running_stack: StackInfo, accounts: Accounts) -> None:
    pst = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "pst" / "sample1.pst"
    dst = accounts.new("pst")
    env = {**os.environ, "DST_PW": accounts.passwords[dst]}
    result = run(["pst-import", str(pst), "--api", running_stack.intake_url, "--target-host", "127.0.0.1",
                  "--target-port", str(accounts.server.imap_port), "--target-security", "none",
                  "--target-login", dst, "--target-password-env", "DST_PW"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed" in result.stdout
    with accounts.client(dst) as c:
        total = sum(c.folder_status(n, [b"MESSAGES"])[b"MESSAGES"] for f, _d, n in c.list_folders()
                    if b"\\Noselect" not in f)
    assert total >= 1
    not_pst = run(["pst-import", __file__, "--api", running_stack.intake_url, "--target-host", "127.0.0.1",
                   "--target-port", str(accounts.server.imap_port), "--target-security", "none",
                   "--target-login", dst, "--target-password-env", "DST_PW", "--no-follow"], env)
    assert not_pst.returncode == 2 and "refused" in not_pst.stderr


def test_a_taken_intake_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))  # as intake listens
        holder.listen()
        port = holder.getsockname()[1]
        env.update({"MAILFERRY_STATE_DIR": str(tmp_path / "state"), "MAILFERRY_INTAKE_PORT": str(port)})
        refused = run(["up"], env)
    assert refused.returncode != 0 and f"port {port} is taken" in refused.stderr
    assert StackInfo.load(tmp_path / "state") is None
    assert not (tmp_path / "state" / "logs" / "broker.log").exists()  # no broker was left behind


def _brokers() -> set[int]:
    """Running tansu brokers, by pid."""
    out = set()
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and b"tansu" in (proc / "cmdline").read_bytes():
                out.add(int(proc.name))
    return out


def test_a_stack_that_fails_after_its_broker_started_stops_the_broker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
    (tmp_path / "bin").mkdir()
    env.update({"MAILFERRY_STATE_DIR": str(tmp_path / "state"), "MAILFERRY_INTAKE_PORT": str(stack.free_port()),
                "PATH": str(tmp_path / "bin")})  # no redis-server: up fails after starting the broker
    before = _brokers()
    failed = run(["up"], env)
    assert failed.returncode != 0 and "redis-server is not installed" in failed.stderr
    assert (tmp_path / "state" / "logs" / "broker.log").exists()  # the broker had started
    assert _brokers() - before == set()  # and was stopped
    assert StackInfo.load(tmp_path / "state") is None


def test_a_port_whose_server_just_stopped_counts_as_free() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
        client.close()
    assert stack.port_free(port)  # `make demo` right after `make down` may take the port again
