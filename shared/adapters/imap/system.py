"""IMAP's entry in the registry: its ports, and its account's ManageSieve for rules.

The adapters are imported when a port is opened, not with this table (the registry is read by
the CLI and the web form's rules, which need no protocol library).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from shared.adapters.descriptor import Reading, System, Writing
from shared.adapters.ports import AdapterEnv, Discovery, Lookups, MailTarget, Secret, Source, Undo
from shared.adapters.sieve import system as sieve
from shared.events import EndpointSpec, ExtractTask
from shared.item_keys import item_key

if TYPE_CHECKING:
    from imapclient import IMAPClient

T = TypeVar("T")


def _session(spec: EndpointSpec, secret: Secret, env: AdapterEnv, make: Callable[..., T]) -> T:
    """Log in, then build the session (its first commands' failures as the ports' kinds)."""
    from shared.adapters.imap.connection import login_imap
    from shared.adapters.imap.errors import translate

    client = login_imap(spec.host, spec.port, spec.security, spec.tls_verify, spec.login, secret(), env.connect)
    try:
        return make(client)
    except Exception as exc:
        try:
            client.shutdown()
        except Exception:  # noqa: S110 - the session is discarded
            pass
        kind = translate(exc, "the first commands after login")
        if kind is None:
            raise
        raise kind from None


def open_source(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> Source:
    from shared.adapters.imap.source import ImapSource

    return _session(spec, secret, env, ImapSource)


def open_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> MailTarget:
    """A writing session; without LITERAL+ it opens up to ``env.write_sessions - 1`` more when a batch
    has several groups to write (see :mod:`shared.adapters.imap.target`)."""
    from shared.adapters.imap.target import ImapTarget

    def lane() -> ImapTarget:
        if env.gate is None:
            return _session(spec, secret, env, ImapTarget)
        gate = env.gate  # a further lane holds a lease on the caps too; none free: fewer lanes
        made = gate.open(spec.host, spec.login, lambda: _session(spec, secret, env, ImapTarget), wait=False)
        made.on_close = lambda: gate.closed(made)
        return made

    def make(client: IMAPClient) -> ImapTarget:
        return ImapTarget(client, reopen=lane, lanes=env.write_sessions, pool=env.write_pool)

    return _session(spec, secret, env, make)


def open_undo(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> Undo:
    """A session removing what was written (by folder, UIDVALIDITY and UID), and the account's ManageSieve
    (logged into when Sieve scripts are to be put back)."""
    from shared.adapters.imap.target import ImapTarget
    from shared.adapters.imap.undo import ImapUndo

    return ImapUndo(_session(spec, secret, env, ImapTarget), lambda: sieve.client(spec, secret(), env))


def open_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> Callable[[], None]:
    """Log in; returns the logout (a round trip the answer to a login check need not wait for)."""
    from shared.adapters.imap.connection import login_imap

    client = login_imap(spec.host, spec.port, spec.security, spec.tls_verify, spec.login, password, env.connect)

    def logout() -> None:
        try:
            client.logout()
        except Exception:
            client.shutdown()

    return logout


def check_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> None:
    open_login(spec, password, env)()


def task_keys(task: ExtractTask) -> list[str]:
    return [item_key(task.folder.folder_id, task.uidvalidity, u) for u in task.uids]


def open_autoconfig(lookups: Lookups) -> Discovery:
    from shared.adapters.imap.autoconfig import AutoconfigDiscovery

    return AutoconfigDiscovery(lookups)


def open_srv(lookups: Lookups) -> Discovery:
    from shared.adapters.imap.srv_discovery import SrvDiscovery

    return SrvDiscovery(lookups)


def open_mx(lookups: Lookups) -> Discovery:
    from shared.adapters.imap.mx_guess import MxDiscovery

    return MxDiscovery(lookups)


SYSTEM = System(
    name="imap",
    label="IMAP",
    mail_source=open_source,
    mail_target=open_target,
    # Rules travel as Sieve scripts over the account's ManageSieve (RFC 5804), vacation auto-reply included.
    readers={"rules": Reading("sieve", sieve.open_reader, check_login=sieve.check_login,
                              unavailable_item=sieve.UNAVAILABLE)},
    writers={"rules": Writing("sieve", sieve.open_target, check_login=sieve.check_login)},
    undo=open_undo,
    check_login=check_login,
    open_login=open_login,
    task_keys=task_keys,
    parallel_reads=True,
    grouped_reads=True,
    default_ports={"tls": 993, "starttls": 143, "none": 143},
    # The ways of finding a mail server from an address; they find POP3 servers too (one file, one RFC).
    discovery={"autoconfig": open_autoconfig, "srv": open_srv, "mx": open_mx},
)
