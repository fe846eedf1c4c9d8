"""Microsoft 365 / Exchange Online's (Graph) entry in the registry: e-mails and every other item type, both ways.

E-mails and contacts, calendars, tasks (To Do), rules and the auto-reply are read and written in the formats
EWS uses, so Graph pairs with every system that reads or writes those formats (EWS, IMAP and PST for
e-mails, Graph itself). Graph has no contact groups (distribution lists) in v1.0: that operation is not
offered either way. httpx and msal are imported when a port is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.adapters.descriptor import Reading, SignIn, System, Writing
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv, Secret
from shared.events import EndpointSpec, ExtractTask

if TYPE_CHECKING:
    from shared.adapters.graph.item_target import GraphItemTarget
    from shared.adapters.graph.mail_target import GraphTarget
    from shared.adapters.graph.source import GraphSource
    from shared.adapters.graph.undo import GraphUndo

# Operation → the neutral format its items travel in: the same as Exchange's (EWS) readers.
FORMATS = {"contacts": "vcard", "calendars": "ical", "tasks": "ical", "rules": "rule-model",
           "auto_reply": "auto-reply"}


def open_source(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> GraphSource:
    from shared.adapters.graph.session import delta_store, open_client
    from shared.adapters.graph.source import GraphSource

    return GraphSource(open_client(spec, secret, env), delta_store())


def open_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> GraphTarget:
    from shared.adapters.graph.mail_target import GraphTarget
    from shared.adapters.graph.session import open_client

    return GraphTarget(open_client(spec, secret, env))


def open_item_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> GraphItemTarget:
    from shared.adapters.graph.item_target import GraphItemTarget

    return GraphItemTarget(open_target(spec, secret, env))


def open_undo(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> GraphUndo:
    from shared.adapters.graph.session import open_client
    from shared.adapters.graph.undo import GraphUndo

    return GraphUndo(open_client(spec, secret, env))


def check_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> None:
    from shared.adapters.graph.login import check_login as check

    check(spec, password, env)


def service_address() -> tuple[str, int]:
    from shared.adapters.graph.settings import process_settings

    return process_settings().graph_host


def start_sign_in(opts: ConnectOptions, login: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
    from shared.adapters.graph.sign_in import start

    return start(opts, login, redirect_uri)


def finish_sign_in(opts: ConnectOptions, flow: dict[str, Any], query: dict[str, str]) -> tuple[str, str]:
    from shared.adapters.graph.sign_in import finish

    return finish(opts, flow, query)


def task_keys(task: ExtractTask) -> list[str]:
    from shared.adapters.graph.source import graph_item_key

    return [graph_item_key(task.folder.folder_id, r) for r in task.refs]


SYSTEM = System(
    name="graph",
    label="Microsoft 365 / Exchange Online",
    mail_source=open_source,
    mail_target=open_target,
    folder_name_units=255,  # Exchange's DisplayName
    readers={op: Reading(fmt, open_source) for op, fmt in FORMATS.items()},
    # contact groups are taken only to say, per group, that Graph cannot hold them (the report lists each)
    writers={op: Writing(fmt, open_item_target) for op, fmt in {**FORMATS, "contact_groups": "contact-group"}.items()},
    undo=open_undo,
    check_login=check_login,
    task_keys=task_keys,
    parallel_reads=True,  # the shared budget keeps every session of every replica within Graph's limits
    needs_host=False,  # Graph's address is the operator's setting (MAILFERRY_GRAPH_URL), not the user's
    default_ports={"tls": 443},
    form_security="tls",
    auth_modes=("app", "oauth2"),  # the operator's app for the tenant, or the user's own sign-in (PKCE)
    passwordless_auth=frozenset({"app"}),
    service_address=service_address,
    sign_in=SignIn(start_sign_in, finish_sign_in, "Sign in with Microsoft"),
)
