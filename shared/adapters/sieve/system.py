"""ManageSieve's ports, for a system whose accounts keep their rules as Sieve scripts (IMAP).

Not a system of its own: the IMAP entry offers them for the rules operation, on the same host and
login with the ManageSieve port (``sieve_port``, default 4190).
"""

from __future__ import annotations

from shared.adapters.ports import AdapterEnv, ItemReader, ItemTarget, Secret
from shared.adapters.sieve.client import ManageSieve, connect_sieve, sieve_port, sieve_security
from shared.adapters.sieve.source import SieveReader
from shared.adapters.sieve.target import SieveTarget
from shared.events import EndpointSpec

#: The item reported failed when the account's ManageSieve cannot be reached (the rules operation ends).
UNAVAILABLE = "sieve:unavailable"


def client(spec: EndpointSpec, password: str, env: AdapterEnv) -> ManageSieve:
    return connect_sieve(spec.host, sieve_port(spec.sieve_port), sieve_security(spec.security), spec.tls_verify,
                         spec.login, password, env.connect)


def open_reader(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> ItemReader:
    return SieveReader(client(spec, secret(), env))


def open_target(spec: EndpointSpec, secret: Secret, env: AdapterEnv) -> ItemTarget:
    return SieveTarget(client(spec, secret(), env))


def check_login(spec: EndpointSpec, password: str, env: AdapterEnv) -> None:
    client(spec, password, env).logout()
