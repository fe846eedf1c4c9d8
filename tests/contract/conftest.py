"""Rigs for the contract suite: each test runs on every rig whose system has what the test needs.

``@needs("source", "folders")`` on a test names the capabilities; ``pytest_generate_tests`` makes one
case per rig that has them all, so a contract a system cannot take is not generated (nothing is
skipped, and "N passed" counts real runs only).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.contract.graph_contract_rig import GraphRig
from tests.contract.rigs import (
    DovecotAccounts,
    EwsRig,
    ImapRig,
    MemoryRig,
    Pop3Rig,
    PstRig,
    Rig,
    SieveRig,
)

RIGS: dict[str, type[Rig]] = {r.name: r for r in (MemoryRig, ImapRig, Pop3Rig, SieveRig, EwsRig, PstRig, GraphRig)}
CORPUS = Path(os.environ.get("MAILFERRY_PST_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpora/pst"))
F = TypeVar("F", bound=Callable[..., Any])


def needs(*caps: str) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn.needs = frozenset(caps)  # type: ignore[attr-defined]
        return fn
    return mark


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rig" in metafunc.fixturenames:
        wanted = getattr(metafunc.function, "needs", frozenset())
        names = [name for name, cls in RIGS.items() if wanted <= cls.caps]
        metafunc.parametrize("rig", names, indirect=True, ids=names)


@pytest.fixture(scope="session")
def contract_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotAccounts]:
    accounts = DovecotAccounts(tmp_path_factory.mktemp("dovecot-contract"))
    yield accounts
    accounts.close()


@pytest.fixture(scope="session")
def ews_rig() -> Iterator[EwsRig]:
    rig = EwsRig()
    yield rig
    rig.close()


@pytest.fixture(scope="session")
def graph_rig(tmp_path_factory: pytest.TempPathFactory, redis_server: Any) -> Iterator[GraphRig]:
    rig = GraphRig(tmp_path_factory.mktemp("graph-contract"), redis_server.address)
    yield rig
    rig.close()


@pytest.fixture(scope="session")
def pst_rig(tmp_path_factory: pytest.TempPathFactory) -> PstRig:
    return PstRig(CORPUS, tmp_path_factory.mktemp("pst-spool"))


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Rig:
    name = request.param
    if name == MemoryRig.name:
        return MemoryRig()
    if name in (ImapRig.name, Pop3Rig.name, SieveRig.name):
        dovecot = request.getfixturevalue("contract_dovecot")
        return {ImapRig.name: ImapRig, Pop3Rig.name: Pop3Rig, SieveRig.name: SieveRig}[name](dovecot)
    if name == EwsRig.name:
        return request.getfixturevalue("ews_rig")  # type: ignore[no-any-return]
    if name == GraphRig.name:
        return request.getfixturevalue("graph_rig")  # type: ignore[no-any-return]
    return request.getfixturevalue("pst_rig")  # type: ignore[no-any-return]
