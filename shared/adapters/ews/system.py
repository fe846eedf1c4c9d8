"""Exchange's (EWS) entry in the registry: e-mails and every other item type, both ways.

The mailbox's session is the e-mail source and the item reader on the source side; on the target
side the e-mail target, the item target (which finds a rule's folders through an e-mail target) and
the undo are sessions of their own. exchangelib is imported when a
port is opened, not with this table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.adapters.descriptor import Reading, System, Writing
from shared.adapters.ports import AdapterEnv, Discovery, Lookups, Secret
from shared.config import DetectSettings
from shared.events import EndpointSpec, ExtractTask
from shared.net_guard import AllowList

if TYPE_CHECKING:
    from exchangelib import Account

    from shared.adapters.ews.item_target import EwsItemTarget
    from shared.adapters.ews.mail_source import EwsSource
    from shared.adapters.ews.mail_target import EwsTarget
    from shared.adapters.ews.undo import EwsUndo

# Operation → the neutral format its items travel in (contact groups, rules and the auto-reply as
# small JSON models of their own).
FORMATS = {"contacts": "vcard", "contact_groups": "contact-group", "calendars": "ical", "tasks": "ical",
           "rules": "rule-model", "auto_reply": "auto-reply"}


def _account(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> Account:
    from shared.adapters.ews.connection import configure, connect_ews, pin

    configure(env.connect, env.max_connections)  # the process's settings for every EWS connection
    pin(spec.host, spec.port)
    return connect_ews(spec.host, spec.port, spec.security, spec.login, secret(), auth=spec.auth,
                       tls_verify=spec.tls_verify)


def open_source(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> EwsSource:
    from shared.adapters.ews.mail_source import EwsSource

    return EwsSource(_account(spec, secret, env))


def open_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> EwsTarget:
    from shared.adapters.ews.mail_target import EwsTarget

    return EwsTarget(_account(spec, secret, env))


def open_item_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> EwsItemTarget:
    from shared.adapters.ews.item_target import EwsItemTarget
    from shared.adapters.ews.mail_target import EwsTarget

    return EwsItemTarget(EwsTarget(_account(spec, secret, env)))


def open_undo(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> EwsUndo:
    from shared.adapters.ews.undo import EwsUndo

    return EwsUndo(_account(spec, secret, env))


def check_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> None:
    from shared.adapters.ews.connection import check_login as check
    from shared.adapters.ews.connection import configure

    configure(env.connect, env.max_connections)
    check(spec.host, spec.port, spec.security, spec.login, password, spec.auth, tls_verify=spec.tls_verify)


def task_keys(task: ExtractTask) -> list[str]:
    from shared.adapters.ews.mail_source import ews_item_key

    return [ews_item_key(task.folder.folder_id, r) for r in task.refs]


def open_autodiscover(lookups: Lookups) -> Discovery:
    from shared.adapters.ews.autodiscover import AutodiscoverDiscovery

    return AutodiscoverDiscovery(lookups)


def find_server(login: str, password: str, settings: DetectSettings, allow: AllowList) -> tuple[str, int, str]:
    from shared.adapters.ews.autodiscover import find_server as find

    return find(login, password, settings, allow)


SYSTEM = System(
    name="ews",
    label="Exchange (EWS)",
    mail_source=open_source,
    mail_target=open_target,
    folder_name_units=255,  # Exchange's DisplayName
    readers={op: Reading(fmt, open_source) for op, fmt in FORMATS.items()},
    writers={op: Writing(fmt, open_item_target) for op, fmt in FORMATS.items()},
    undo=open_undo,
    check_login=check_login,
    task_keys=task_keys,
    parallel_reads=True,
    needs_host=False,
    find_server=find_server,
    discovery={"autodiscover": open_autodiscover},
    default_ports={"tls": 443, "starttls": 443, "none": 80},
    form_security="tls",  # EWS is HTTPS: STARTTLS means nothing to it
    auth_modes=("basic", "oauth2"),
)
