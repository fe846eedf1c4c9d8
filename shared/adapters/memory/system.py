"""The memory system's entry: every side and every operation, over a :class:`MemoryServer`'s accounts.

Tests register it for a block (``registry.registered(memory_system(server))``); with ``name`` an
existing type ("imap") it stands in for that system while the block runs, so events, whose account
types are the documented ones, can name it.
"""

from __future__ import annotations

from shared.adapters.descriptor import Reading, System, Writing
from shared.adapters.memory.account import MemoryServer
from shared.adapters.memory.source import FORMATS, MemorySource
from shared.adapters.memory.target import MemoryItemTarget, MemoryMailTarget
from shared.adapters.memory.undo import MemoryUndo
from shared.adapters.ports import AdapterEnv, Secret
from shared.events import EndpointSpec, ExtractTask
from shared.item_keys import item_key


def memory_system(server: MemoryServer, name: str = "memory") -> System:
    def source(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> MemorySource:
        return MemorySource(server.login(spec.login, secret()))

    def mail_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> MemoryMailTarget:
        return MemoryMailTarget(server.login(spec.login, secret()))

    def item_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> MemoryItemTarget:
        return MemoryItemTarget(server.login(spec.login, secret()))

    def undo(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> MemoryUndo:
        return MemoryUndo(server.login(spec.login, secret()))

    def check_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> None:
        server.login(spec.login, password)

    def task_keys(task: ExtractTask) -> list[str]:
        return [item_key(task.folder.folder_id, task.uidvalidity, u) for u in task.uids]

    return System(
        name=name, label="In memory", mail_source=source, mail_target=mail_target,
        readers={op: Reading(fmt, source) for op, fmt in FORMATS.items()},
        writers={op: Writing(fmt, item_target) for op, fmt in FORMATS.items()},
        undo=undo, check_login=check_login, task_keys=task_keys, parallel_reads=True,
    )
