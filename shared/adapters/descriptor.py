"""What a system's entry in the registry says: how to open its ports, and what it reads and writes.

Each adapter package has one (``shared/adapters/<name>/system.py``, ``SYSTEM``), listed in
:mod:`shared.adapters.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.adapters.net import ConnectOptions
from shared.adapters.ports import (
    AdapterEnv,
    Discovery,
    ItemReader,
    ItemTarget,
    Lookups,
    MailTarget,
    Secret,
    Source,
    Undo,
)
from shared.config import DetectSettings
from shared.events import EndpointSpec, ExtractTask
from shared.net_guard import AllowList


def _no_keys(task: ExtractTask) -> list[str]:
    return []


#: Opens a port on an account: the account, its secret (read when needed), the process's settings.
SourceOpener = Callable[[EndpointSpec, Secret, AdapterEnv], Source]
MailTargetOpener = Callable[[EndpointSpec, Secret, AdapterEnv], MailTarget]
ReaderOpener = Callable[[EndpointSpec, Secret, AdapterEnv], ItemReader]
ItemTargetOpener = Callable[[EndpointSpec, Secret, AdapterEnv], ItemTarget]
UndoOpener = Callable[[EndpointSpec, Secret, AdapterEnv], Undo]
#: Logs in and out, or raises the ConnectionCheckFailed kind that says why not (password in clear).
LoginCheck = Callable[[EndpointSpec, str, AdapterEnv], None]
#: Logs in as a LoginCheck does and returns what logs out, for a caller that answers before the logout ends.
LoginOpen = Callable[[EndpointSpec, str, AdapterEnv], Callable[[], None]]
#: Checks an uploaded file before anything starts; raises FileRefused with the reason.
UploadCheck = Callable[[Path], None]
#: Builds one way of finding an address's servers on the lookups the caller hands it.
DiscoveryOpener = Callable[[Lookups], Discovery]
#: (login, password, settings, allow-list) → the account's (host, port, security); HostNotFound when none.
ServerFinder = Callable[[str, str, DetectSettings, AllowList], tuple[str, int, str]]


@dataclass(frozen=True)
class Reading:
    """One operation a system reads, whole, at plan time."""

    format: str  # the neutral format of its items: "vcard", "contact-group", "ical", "rule-model", "sieve"...
    open: ReaderOpener
    #: Checked with the account's login when this operation is chosen (a second protocol, ManageSieve).
    check_login: LoginCheck | None = None
    #: When set, a login that fails reports this one item failed and the migration goes on
    #: (the account's other protocol is down, not the account); else the migration fails.
    unavailable_item: str = ""


@dataclass(frozen=True)
class Writing:
    """One operation a system writes."""

    format: str
    open: ItemTargetOpener
    check_login: LoginCheck | None = None


@dataclass(frozen=True)
class SignIn:
    """A user's own interactive sign-in (OAuth2 authorization code with PKCE): intake runs the two steps and
    keeps what is between them sealed; the result (the tokens) is the account's secret."""

    #: (opts, login, redirect_uri) → (the URL to send the browser to, the flow to keep until the redirect).
    #: ``redirect_uri`` is intake's way back as the operator configured it, or "" when intake knows none it may
    #: trust (the request's Host is not): the system then uses its own configured one, or refuses (not_configured).
    start: Callable[[ConnectOptions, str, str], tuple[str, dict[str, Any]]]
    #: (opts, flow, the redirect's query) → (the secret to seal, the login that signed in)
    finish: Callable[[ConnectOptions, dict[str, Any], dict[str, str]], tuple[str, str]]
    label: str = ""  # the button: "Sign in with Microsoft"


@dataclass(frozen=True)
class System:
    name: str  # the account's ``type``
    label: str  # how messages, the web form and the CLI name it: "Exchange (EWS)"
    mail_source: SourceOpener | None = None
    mail_target: MailTargetOpener | None = None
    readers: Mapping[str, Reading] = field(default_factory=dict)  # operation → reader, besides e-mails
    writers: Mapping[str, Writing] = field(default_factory=dict)  # operation → writer, besides e-mails
    undo: UndoOpener | None = None  # removes what was written through mail_target and writers, puts settings back
    check_login: LoginCheck | None = None  # None: no login (an uploaded file)
    open_login: LoginOpen | None = None  # check_login in two steps, where logging out costs a round trip
    #: The ledger identities of a task's items without a session (to report a task that failed).
    task_keys: Callable[[ExtractTask], list[str]] = _no_keys
    parallel_reads: bool = False  # several sessions may read one account at once
    grouped_reads: bool = False  # its mail source reads small tasks of a migration together (GroupedSource)
    needs_host: bool = True  # False: the server can be found from the login (autodiscover)
    #: Finds the account's server from its login when none is given (Exchange's autodiscover); None: never.
    find_server: ServerFinder | None = None
    #: The ways of finding an address's servers this system's protocols offer, by the ``source`` their
    #: answers carry ("autoconfig", "srv", "autodiscover", "mx"); the registry says in which order.
    discovery: Mapping[str, DiscoveryOpener] = field(default_factory=dict)
    uploaded: bool = False  # a file uploaded to intake, not an account: no login of its own
    check_upload: UploadCheck | None = None  # how intake checks an uploaded file (raises FileRefused)
    default_ports: Mapping[str, int] = field(default_factory=dict)  # by security, for the web form and CLI
    form_security: str = ""  # the security the web form selects when this type is chosen ("": the user's stays)
    #: How the account signs in (``auth``), the first being the default: "basic" (password), "oauth2" (a
    #: user's token or sign-in), "app" (the operator's own credentials for the account's organisation).
    auth_modes: tuple[str, ...] = ("basic",)
    #: Sign-in ways whose request carries no password (the operator holds the credentials).
    passwordless_auth: frozenset[str] = frozenset()
    #: Where the service is when the operator, not the user, says so (Graph): (host, port); None: the request's.
    service_address: Callable[[], tuple[str, int]] | None = None
    sign_in: SignIn | None = None  # the user may sign in on the web page (``auth: oauth2``)
    #: The longest folder name its mail target takes, in UTF-16 units (0: none known): a folder given another name
    #: because its own meets another's there (``Work (2)``, :mod:`shared.folder_names`) is shortened to fit.
    folder_name_units: int = 0
