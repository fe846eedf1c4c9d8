"""GraphEmulator: the test API (users, app registrations, faults, limits, counters) around the HTTP server."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from cryptography import x509

from . import routes
from .aad import AppRegistration, Tenant, new_secret
from .call import Answer
from .clock import Clock
from .delta import DeltaState, PageState
from .faults import Faults
from .ids import new_guid
from .schema import load_schema
from .server import HttpServer
from .store import Mailbox
from .throttle import Limits, Throttle
from .tls import TlsFiles, make_test_pki
from .upload_sessions import UploadSession
from .validate import Validator

ALL_APPLICATION = frozenset({"Mail.ReadWrite", "Contacts.ReadWrite", "Calendars.ReadWrite", "Tasks.ReadWrite.All",
                             "MailboxSettings.ReadWrite", "User.Read.All"})
ALL_DELEGATED = frozenset({"Mail.ReadWrite", "Contacts.ReadWrite", "Calendars.ReadWrite", "Tasks.ReadWrite",
                           "MailboxSettings.ReadWrite", "User.Read"})


class GraphEmulator:
    """An in-memory Microsoft Graph v1.0 (mail, contacts, calendars, To Do, rules, auto-replies) with its
    Entra ID token endpoint, served over real HTTP(S) on a free port.

    >>> with GraphEmulator(tls=True) as emu:
    ...     emu.add_user("alice@example.test")
    ...     app = emu.register_app(secret="s3cret")
    ...     emu.authority      # https://127.0.0.1:PORT/<tenant id>, for msal
    ...     emu.graph_url      # https://127.0.0.1:PORT/v1.0
    """

    def __init__(self, *, tls: bool = False, clock: Clock | None = None, limits: Limits | None = None,
                 token_lifetime: int = 3599, upload_session_lifetime: int = 900, host: str = "127.0.0.1",
                 domain: str = "example.test") -> None:
        self.clock = clock or Clock()
        self.host = host
        self.tenant = Tenant(self.clock, domain=domain, token_lifetime=token_lifetime)
        self.schema = load_schema()
        self.validator = Validator(self.schema)
        self.throttle = Throttle(self.clock, limits)
        self.faults = Faults()
        self.lock = threading.RLock()
        self.routes = routes.ALL
        self.mailboxes: dict[str, Mailbox] = {}
        self.delta_states: dict[str, DeltaState] = {}
        self.delta_pages: dict[str, PageState] = {}
        self.upload_sessions: dict[str, UploadSession] = {}
        self.upload_session_lifetime = upload_session_lifetime
        self.routes_served: Counter[str] = Counter()
        self.errors_answered: Counter[str] = Counter()
        self.emitted: list[tuple[str, dict[str, Any]]] = []  # (model type, object) of every answer sent
        self.tls: TlsFiles | None = make_test_pki() if tls else None
        self._server: HttpServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> GraphEmulator:
        self._server = HttpServer(self, self.host, self.tls.server_context() if self.tls else None)
        self._server.start()
        self.tenant.issuer_base = self.base_url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        return self.base_url + "/v1.0"

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant.tenant_id}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def ca_file(self) -> str | None:
        return str(self.tls.ca_file) if self.tls else None

    # -- test API ----------------------------------------------------------------------------
    def add_user(self, upn: str, display_name: str | None = None) -> Mailbox:
        """A licensed user with an Exchange Online mailbox (well-known folders, calendar, contacts, task list)."""
        with self.lock:
            key = upn.lower()
            if key in self.mailboxes:
                raise ValueError(f"user {upn} exists")
            mbx = Mailbox(key, display_name or upn.split("@")[0], self.clock.iso())
            self.mailboxes[key] = mbx
            self.tenant.users[key] = mbx.user_id
            return mbx

    def register_app(self, client_id: str | None = None, *, secret: str | bool | None = None,
                     certificate: x509.Certificate | None = None,
                     application_permissions: set[str] | frozenset[str] = ALL_APPLICATION,
                     delegated_permissions: set[str] | frozenset[str] = ALL_DELEGATED,
                     redirect_uris: set[str] | None = None, public_client: bool = False) -> AppRegistration:
        """Register an app with admin consent for the given permissions; `secret=True` makes up a secret."""
        app = AppRegistration(
            client_id or new_guid(),
            secret=new_secret() if secret is True else (secret or None),
            certificates=[certificate] if certificate is not None else [],
            application_permissions=set(application_permissions),
            delegated_permissions=set(delegated_permissions),
            redirect_uris=set(redirect_uris or {"http://localhost/callback"}),
            public_client=public_client,
        )
        self.tenant.apps[app.client_id] = app
        return app

    def share_calendar(self, upn: str, owner: str, name: str) -> str:
        """A calendar ``owner`` shared with ``upn`` that ``upn`` added to their calendars (Graph lists it under
        /me/calendars with the sharer as its read-only ``owner``); its id in ``upn``'s mailbox."""
        with self.lock:
            mbx = self.mailboxes[upn.lower()]
            entry = mbx.new_entry("calendar", None, {
                "name": name, "color": "auto", "hexColor": "", "isDefaultCalendar": False, "canEdit": False,
                "canShare": False, "canViewPrivateItems": False, "isRemovable": True, "isTallyingResponses": False,
                "owner": {"name": owner.split("@")[0], "address": owner}})
            return entry.id

    def sign_in(self, upn: str | None) -> None:
        """The user the authorize endpoint signs in (as if they had typed their password)."""
        self.tenant.signed_in = upn.lower() if upn else None

    def find_mailbox(self, key: str) -> Mailbox | None:
        found = self.mailboxes.get(key.lower())
        if found is not None:
            return found
        return next((m for m in self.mailboxes.values() if m.user_id == key.lower()), None)

    def record(self, answer: Answer) -> None:
        """Keep what an answer said, so a test can check every object against the Graph model."""
        if answer.entity_type is None or not isinstance(answer.body, dict) or answer.status >= 400:
            return
        items = answer.body.get("value", []) if answer.collection else [answer.body]
        with self.lock:
            self.emitted.extend((answer.entity_type, obj) for obj in items if "@removed" not in obj)
