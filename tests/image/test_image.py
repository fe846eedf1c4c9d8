"""The image operators deploy, as built by `make image`: every service started from it, a migration to the end.

Intake and the three workers each run in their own container of the built image (buildah, host network)
against the test broker, Redis and Dovecot; the copy is then checked message by message with
mailferry/verify.py against a folder map written here. How long each service takes from its container's
start to a ready /readyz is written to artifacts/image/measurements.json (the README quotes it), never
asserted.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailferry import seed, stack, verify
from mailferry.stack import StackInfo
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import migrate
from tests.image.containers import ImageStore, ServiceContainer
from tests.servers import Process

SERVICES = ("tracker", "loader", "extractor", "intake")
UID = 10001  # the Dockerfile's USER
FOLDERS = ("INBOX", "Sent", "Drafts", "Archive", "Projects/2024", "Données/Été 2024")
# Source and target are accounts of the same Dovecot: every folder keeps its name; the parents Dovecot
# lists for the nested ones (\Noselect) and the special folders it gives every account (Trash, Junk: empty)
# are there too, and no other folder may appear.
EXPECTED = {name: name for name in (*FOLDERS, "Projects", "Données", "Trash", "Junk")}


@dataclass
class ImageStack:
    info: StackInfo
    containers: dict[str, ServiceContainer]
    ready_after: dict[str, float]


@pytest.fixture(scope="module")
def image_store() -> ImageStore:
    store = ImageStore.from_env()
    try:
        store.run("inspect", "--type", "image", store.image)
    except (RuntimeError, FileNotFoundError) as exc:
        pytest.fail(f"no image {store.image} in {store.store}: build it with `make image` ({exc})")
    return store


def _wait_ready(url: str, svc: ServiceContainer, timeout: float = 120) -> float:
    """Seconds from the container's start to a ready answer; fails at once if the service exits."""
    deadline = time.monotonic() + timeout
    assert svc.proc is not None
    while svc.proc.poll() is None and time.monotonic() < deadline:
        if stack.wait_ready(url, 0.2):
            return time.monotonic() - svc.started
    raise AssertionError(f"{svc.service} from the image never answered {url} (exit {svc.proc.poll()}):\n"
                         + svc.log.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def image_stack(image_store: ImageStore, broker: Process, redis_server: Process,
                tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[ImageStack]:
    logs = tmp_path_factory.mktemp("image-logs")
    # Only mailferry's settings go in; the container's PATH, HOME and state directory are the image's.
    # The services listen on loopback: with the host's network, the image's 0.0.0.0 would be this machine's.
    base = {k: v for k, v in stack_env(broker, redis_server, f"img{secrets.token_hex(4)}.").items()
            if k.startswith("MAILFERRY_")}
    base["MAILFERRY_BIND_HOST"] = "127.0.0.1"
    # Chroot isolation has no PID namespace, so tini is not PID 1 here: as a subreaper it still reaps.
    base["TINI_SUBREAPER"] = "1"
    containers: dict[str, ServiceContainer] = {}
    for name in SERVICES:
        # The image's HEALTHCHECK asks intake's port, then a worker's: on the shared host network, each
        # container's check must be answered by its own service only, so the other port is a closed one.
        env = {**base, "MAILFERRY_HTTP_PORT": str(stack.free_port())}
        if name != "intake":
            env["MAILFERRY_INTAKE_PORT"] = str(stack.free_port())
        containers[name] = ServiceContainer(name, image_store, env, logs / f"{name}.log")
    try:
        with ThreadPoolExecutor(len(containers)) as pool:
            list(pool.map(lambda c: c.create(), containers.values()))
        for c in containers.values():
            c.start()
        intake_url = f"http://127.0.0.1:{base['MAILFERRY_INTAKE_PORT']}"
        urls = {name: f"http://127.0.0.1:{c.env['MAILFERRY_HTTP_PORT']}/readyz" for name, c in containers.items()
                if name != "intake"} | {"intake": f"{intake_url}/readyz"}
        with ThreadPoolExecutor(len(containers)) as pool:  # each one timed on its own
            ready = dict(zip(urls, pool.map(lambda n: _wait_ready(urls[n], containers[n]), urls), strict=True))
        out = artifacts / "image"
        out.mkdir(exist_ok=True)
        (out / "measurements.json").write_text(json.dumps({
            "image": image_store.image, "size": image_store.size(),
            "container_start_to_ready_seconds": {k: round(v, 2) for k, v in ready.items()},
            "note": "started together; the workers are ready once Kafka has given them partitions"}, indent=2))
        info = StackInfo(state_dir=str(logs), intake_url=intake_url, kafka_bootstrap=broker.address,
                         redis_url=redis_server.address, env={})
        yield ImageStack(info, containers, ready)
    finally:
        for c in containers.values():
            c.stop()
        for c in containers.values():
            c.remove()


def test_each_service_runs_from_the_image_as_its_user_and_passes_its_healthcheck(
        image_stack: ImageStack, image_store: ImageStore) -> None:
    health = image_store.config()["Healthcheck"]["Test"]
    assert health[0] == "CMD", health  # exec form: the image's own python, no shell
    for name, c in image_stack.containers.items():
        procs = c.processes()
        assert [comm for _pid, comm, _uid in procs] == ["tini", "mailferry"], f"{name}: {procs}"
        assert {uid for _pid, _comm, uid in procs} == {UID}, f"{name} runs as {procs}, not only as {UID}"
        check = c.exec(*health[1:])
        assert check.returncode == 0, f"{name}: HEALTHCHECK failed: {check.stdout}{check.stderr}"


def test_a_migration_runs_to_the_end_through_the_image(image_stack: ImageStack, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    # The corpus's real messages, generated ones in every folder, and one above the inline limit
    # (512 KiB), which travels as chunks and is put together by the loader.
    layout = seed.plan_mailbox(40, folders=FOLDERS, big_sizes=(700_000,))
    with accounts.client(src) as c:
        seed.seed(c, layout)
    total = sum(len(v) for v in layout.values())

    _mid, st = migrate(image_stack.info, accounts.endpoint(src), accounts.endpoint(dst))

    assert st["state"] == "completed", st
    emails = st["items"]["emails"]
    assert (emails["total"], emails["done"], emails["skipped"], emails["failed"]) == (total, total, 0, 0), st
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, EXPECTED)
    assert result.identical, result.problems()
    assert result.messages == total


def test_each_service_stops_on_sigterm_and_its_healthcheck_then_fails(
        image_stack: ImageStack, image_store: ImageStore) -> None:
    """`docker stop`: SIGTERM to tini, forwarded to the service, which drains and exits by itself."""
    health = image_store.config()["Healthcheck"]["Test"]
    for name in ("intake", "extractor", "loader", "tracker"):
        c = image_stack.containers[name]
        code = c.stop(grace=30)
        assert code in (0, 143), f"{name} did not stop by itself on SIGTERM (exit {code}):\n" \
                                 + c.log.read_text(errors="replace")[-2000:]
        assert not c.processes(), f"{name} left processes behind: {c.processes()}"
        check = c.exec(*health[1:])
        assert check.returncode != 0, f"{name}: HEALTHCHECK passes with the service stopped"
