"""The one place that knows which systems exist and what each can do.

An account's ``type`` (``imap``, ``pop3``, ``ews``, ``pst``) names a :class:`System`: how to open
its ports, which operations it can read and write and in which neutral format, and the few
facts intake and the web form ask (does it need a server name, how is it found from the login,
is it an uploaded file and how is the file checked). The systems also bring the ways of finding an
address's servers (the Discovery port), which intake's autodetection asks in ``DISCOVERY_ORDER``.
Which options a source/target pair can take follows from the systems: e-mails when the source has a
mail source and the target a mail target, any other operation when the source reads it and the
target writes it *in the same format*. Services and intake ask here;
nothing else switches on the type.

The systems' entries (``shared/adapters/<name>/system.py``) import their adapters only when a
port is opened, so reading this table (the CLI, the web form's rules) loads no protocol library.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from shared.adapters.descriptor import DiscoveryOpener, ServerFinder, System
from shared.adapters.ews.system import SYSTEM as EWS
from shared.adapters.graph.system import SYSTEM as GRAPH
from shared.adapters.imap.system import SYSTEM as IMAP
from shared.adapters.pop3.system import SYSTEM as POP3
from shared.adapters.ports import Discovery, Lookups
from shared.adapters.pst.system import SYSTEM as PST
from shared.adapters.server_suggestions import ProviderTableDiscovery
from shared.errors import NotSupported
from shared.events import EndpointSpec
from shared.migration_state import EMAILS, OPERATIONS

#: In the order forms list them (the first is their default).
SYSTEMS: dict[str, System] = {s.name: s for s in (IMAP, POP3, EWS, GRAPH, PST)}


def system(name: str) -> System:
    """The system of an account type; NotSupported for a type this version does not know."""
    found = SYSTEMS.get(name)
    if found is None:
        raise NotSupported(f"{name} accounts are not available in this version of mailferry")
    return found


def label(name: str) -> str:
    found = SYSTEMS.get(name)
    return found.label if found else name


def sources() -> list[str]:
    """Account types that can be a source (sorted), then the uploaded ones."""
    readable = [s for s in SYSTEMS.values() if s.mail_source or s.readers]
    return [s.name for s in sorted(readable, key=lambda s: (s.uploaded, s.name))]


def targets() -> list[str]:
    """Account types that can be a target, sorted."""
    return sorted(s.name for s in SYSTEMS.values() if s.mail_target or s.writers)


def account_sources() -> list[str]:
    """Source types that are accounts (a login), not uploaded files: what ``POST /api/v1/migrations`` takes."""
    return [name for name in sources() if not SYSTEMS[name].uploaded]


def account_types(side: str) -> list[str]:
    """The account types a form offers for ``side`` ("source" or "target"), in the registry's own order
    (the first is the form's default): accounts only, not uploaded files."""
    def can(s: System) -> bool:
        return bool(s.mail_source or s.readers) if side == "source" else bool(s.mail_target or s.writers)

    return [s.name for s in SYSTEMS.values() if can(s) and not s.uploaded]


def ordered(options: list[str]) -> list[str]:
    """The chosen operations in the fixed order they run in."""
    return [op for op in OPERATIONS if op in options]


def runnable(source_type: str, target_type: str) -> tuple[str, ...]:
    """What this version can carry out from ``source_type`` to ``target_type``, in the fixed order."""
    source, target = SYSTEMS.get(source_type), SYSTEMS.get(target_type)
    if source is None or target is None:
        return ()
    out = []
    for op in OPERATIONS:
        if op == EMAILS:
            ok = source.mail_source is not None and target.mail_target is not None
        else:
            reading, writing = source.readers.get(op), target.writers.get(op)
            ok = reading is not None and writing is not None and reading.format == writing.format
        if ok:
            out.append(op)
    return tuple(out)


# What earlier versions called what a pair "allows" is now what it runs: both come from the systems.
allowed_options = runnable


def table() -> dict[str, dict[str, list[str]]]:
    """``runnable`` for every source (uploaded ones included) and target: what the web form offers."""
    return {source: {target: list(runnable(source, target)) for target in targets()} for source in sources()}


def _implemented() -> dict[tuple[str, str], tuple[str, ...]]:
    return {(s, t): ops for s in account_sources() for t in targets() if (ops := runnable(s, t))}


#: The account pairs the built-in systems migrate, with what each can carry (a snapshot at import, for
#: readers of the table; the checks below ask the functions, so a system registered later counts).
IMPLEMENTED: dict[tuple[str, str], tuple[str, ...]] = _implemented()
SUPPORTED_SOURCES: set[str] = set(account_sources())
SUPPORTED_TARGETS: set[str] = set(targets())


def _none_chosen(options: list[str]) -> list[tuple[str, str]]:
    return [] if options else [("options", "choose at least one thing to migrate")]


def _unknown(options: list[str]) -> list[tuple[str, str]]:
    unknown = [o for o in options if o not in OPERATIONS]
    if not unknown:
        return []
    # The caller's words: a few of them, cut short (a body of 6,000 made a message of 60 kB).
    named = ", ".join(repr(o[:40]) for o in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
    return [("options", f"unknown option(s) {named}; known: {', '.join(OPERATIONS)}")]


def _twice(options: list[str]) -> list[tuple[str, str]]:
    return [("options", "an option is listed twice")] if len(set(options)) != len(options) else []


def _what(ops: Collection[str], source: System) -> str:
    """The options a pair takes, as a sentence names them ("e-mails and rules (Sieve)")."""
    def name(op: str) -> str:
        if op == EMAILS:
            return "e-mails"
        reading = source.readers.get(op)
        return f"{op} (Sieve)" if reading is not None and reading.format == "sieve" else op
    names = [name(op) for op in ops]
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def problems(source_type: str, target_type: str, options: list[str]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with this choice; empty when it can run."""
    source = SYSTEMS.get(source_type)
    if source is not None and source.uploaded:
        return uploaded_problems(source, target_type, options)
    out: list[tuple[str, str]] = []
    if source_type not in account_sources():
        out.append(("source.type", f"{label(source_type)} sources are not available in this version of mailferry yet"))
    if target_type not in targets():
        out.append(("target.type", f"{label(target_type)} targets are not available in this version of mailferry yet"))
    out += _none_chosen(options) + _unknown(options)
    allowed = runnable(source_type, target_type)
    refused = [o for o in options if o in OPERATIONS and o not in allowed]
    if refused and source is not None and target_type in targets():
        out.append(("options", f"from a {label(source_type)} source to a {label(target_type)} target only "
                               f"{_what(allowed, source)} can be migrated (not {', '.join(refused)})"))
    return out + _twice(options)


def pst_problems(target_type: str, options: list[str]) -> list[tuple[str, str]]:
    """``problems`` for an uploaded PST file."""
    return uploaded_problems(system("pst"), target_type, options)


def uploaded_problems(source: System, target_type: str, options: list[str]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with the options for an uploaded file; empty when it can run."""
    allowed = runnable(source.name, target_type)
    if not allowed:
        return [("target.type", f"a {source.label} file cannot be imported into a {label(target_type)} account")]
    out = _none_chosen(options) + _twice(options) + _unknown(options)
    refused = [o for o in options if o in OPERATIONS and o not in allowed]
    if refused:
        out.append(("options", f"from a {source.label} file into a {label(target_type)} account only "
                               f"{_what(allowed, source)} can be imported (not {', '.join(refused)})"))
    return out


def needs_host(type_: object) -> bool:
    """An account of this type needs a server name (an unknown type does, so it is refused as it was)."""
    found = SYSTEMS.get(type_) if isinstance(type_, str) else None
    return found is None or found.needs_host


def hostless() -> list[str]:
    """Account types a request may give without a server (found from the login, or the operator's setting)."""
    return sorted(s.name for s in SYSTEMS.values() if not s.needs_host and not s.uploaded)


def auth_modes(type_: object) -> tuple[str, ...]:
    """How an account of this type may sign in, the default first (an unknown type: a password)."""
    found = SYSTEMS.get(type_) if isinstance(type_, str) else None
    return found.auth_modes if found is not None else ("basic",)


def needs_password(type_: object, auth: str) -> bool:
    """Whether the request must carry a password (or token) for this account."""
    found = SYSTEMS.get(type_) if isinstance(type_, str) else None
    return found is None or auth not in found.passwordless_auth


def autodiscovered() -> list[str]:
    """Account types whose server intake finds from the login when none is given."""
    return sorted(s.name for s in SYSTEMS.values() if s.find_server is not None)


def find_server(type_: str) -> ServerFinder | None:
    """How to find an account's server from its login when the request names none (None: it cannot be)."""
    found = SYSTEMS.get(type_)
    return found.find_server if found is not None else None


#: The order in which autodetection asks the ways of finding an address's servers (the first with an
#: answer wins): the provider table (no network), Thunderbird autoconfig, DNS SRV (RFC 6186), Exchange
#: autodiscover, and last the guesses from MX records.
DISCOVERY_ORDER: tuple[str, ...] = ("builtin", "autoconfig", "srv", "autodiscover", "mx")


def _provider_table(_lookups: Lookups) -> Discovery:
    return ProviderTableDiscovery()


def discoveries(lookups: Lookups) -> list[tuple[str, Discovery]]:
    """Every registered way of finding an address's servers, by name, in ``DISCOVERY_ORDER``."""
    openers: dict[str, DiscoveryOpener] = {"builtin": _provider_table}
    for s in SYSTEMS.values():
        openers.update(s.discovery)
    return [(name, openers[name](lookups)) for name in DISCOVERY_ORDER if name in openers]


@contextmanager
def registered(extra: System) -> Iterator[None]:
    """A further system for the time of a block (the tests' in-memory system); one named like a
    registered system stands in for it until the block ends."""
    before = SYSTEMS.get(extra.name)
    SYSTEMS[extra.name] = extra
    try:
        yield
    finally:
        if before is None:
            SYSTEMS.pop(extra.name, None)
        else:
            SYSTEMS[extra.name] = before


def session_host(spec: EndpointSpec) -> str | None:
    """The server whose session cap a session to this account counts against, or None: an uploaded file
    has no server, and a service the operator names (Graph) keeps its own limits per mailbox."""
    found = SYSTEMS.get(spec.type)
    if found is None or found.uploaded or found.service_address is not None or not spec.host:
        return None
    return spec.host


def load_adapters() -> None:
    """Import every adapter module (and so its protocol library) now, in one thread.

    The systems import their adapters when a port is first opened, which keeps the CLI light, but a
    service opens ports from several threads: intake checks a migration's two logins side by side, and
    two first imports of libraries that share urllib3 (msal, exchangelib) racing in two threads once gave
    ``ImportError: partially initialized module``. Services call this once at start-up (~0.8 s).
    """
    import importlib
    import pkgutil

    import shared.adapters as adapters

    for module in pkgutil.walk_packages(adapters.__path__, "shared.adapters."):
        importlib.import_module(module.name)
