"""POP3's entry in the registry: a source of e-mails only (one folder, no flags)."""

from __future__ import annotations

from shared.adapters.descriptor import System
from shared.adapters.pop3.connection import login_pop3
from shared.adapters.pop3.maildrop import Pop3Source, pop3_item_key
from shared.adapters.pop3.source import Pop3Mailbox
from shared.adapters.ports import AdapterEnv, Secret, Source
from shared.events import EndpointSpec, ExtractTask


def open_source(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> Source:
    return Pop3Mailbox(Pop3Source(login_pop3(spec.host, spec.port, spec.security, spec.tls_verify, spec.login,
                                             secret(), env.connect)))


def check_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> None:
    login_pop3(spec.host, spec.port, spec.security, spec.tls_verify, spec.login, password, env.connect).logout()


def task_keys(task: ExtractTask) -> list[str]:
    return [pop3_item_key(r) for r in task.refs]


# POP3 locks its maildrop per session: one session reads at a time.
SYSTEM = System(
    name="pop3",
    label="POP3",
    mail_source=open_source,
    check_login=check_login,
    task_keys=task_keys,
    default_ports={"tls": 995, "starttls": 110, "none": 110},
)
