"""The REST API's request and response bodies (they make the OpenAPI document).

Every text field that reaches a mail server is hostile until checked: line breaks and other control
characters are refused here with a 422 naming the field (the one rule of :mod:`shared.wire_text`, which
the connections apply again before sending), and the OpenAPI schema carries the same rule as a
``pattern``, so the document accepts exactly what the API does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import idna
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared import wire_text
from shared.adapters import registry
from shared.mail_address import EMAIL_LOOKUP_PATTERN, InvalidEmail, parse_email
from shared.migration_state import OPERATIONS

CONTROLS_MESSAGE = "must not contain line breaks or other control characters"


def no_controls(value: str) -> str:
    if wire_text.has_control(value):
        raise ValueError(CONTROLS_MESSAGE)
    return value


def visible(value: str) -> str:
    if wire_text.has_invisible(value):
        raise ValueError("must not contain invisible or text-direction characters (zero-width characters, bidi "
                         "controls such as U+202E, the BOM)")
    return value


def one_address(value: str) -> str:
    if not wire_text.is_single_address(value):
        raise ValueError("must be one e-mail address (name@example.com), without spaces, commas, control or "
                         "invisible characters")
    return value


#: Text that goes to a mail server: no control characters (validated, and said in the schema).
CleanText = Annotated[str, AfterValidator(no_controls),
                      Field(json_schema_extra={"pattern": wire_text.NO_CONTROLS_PATTERN})]
#: A login: the same, not only white space (it is stripped), and nothing invisible (it names an account).
LoginText = Annotated[str, AfterValidator(no_controls), AfterValidator(visible),
                      Field(json_schema_extra={"pattern": wire_text.NAME_PATTERN})]
#: A server name (letters of any script, digits, dots, hyphens, underscores) or an IP address (IPv6 also in brackets);
#: nothing a URL, a port or a login would add (``imap.example.com:993``, ``https://...``, ``user@host``), which no
#: resolver finds: refused naming the field before any lookup. Which addresses may be reached is the network guard's.
_NOT_IN_NAMES = r"\s/\\@?#%:\[\]<>" + "\"'`,;*!$&()=+|{}^~" + wire_text.CONTROL_CLASS + wire_text.INVISIBLE_CLASS
HOST_PATTERN = (rf"^\s*(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|[^{_NOT_IN_NAMES}]*)\s*$")
_HOST = re.compile(HOST_PATTERN)


def host_syntax(value: str) -> str:
    if _HOST.match(value):
        return value
    text = value.strip()
    if "://" in text:
        raise ValueError("give the server name only, without a scheme such as imaps:// or https://")
    if re.fullmatch(r"[^:]+:[0-9]*", text):
        raise ValueError("give the server name only; its port goes into the port field")
    if "@" in text:
        raise ValueError("give the server name only; the login goes into the login field")
    raise ValueError("must be a server name (letters, digits, dots and hyphens, e.g. imap.example.com) or an IP "
                     "address")


def one_reading(value: str) -> str:
    """An internationalised name must be the same name to every IDNA: Python's resolver and TLS check (IDNA 2003)
    read ``straße.de`` as ``strasse.de``, another owner's domain than IDNA 2008's ``xn--strae-oqa.de``, so the
    password would go to a server the user never named. Refused, with the name to write instead."""
    text = value.strip().rstrip(".")
    if text.isascii() or not text:
        return value
    try:
        current = idna.encode(text, uts46=True, transitional=False).decode()
    except idna.IDNAError:
        raise ValueError("is not a valid internationalised server name (IDNA 2008)") from None
    try:
        legacy = text.encode("idna").decode()
    except UnicodeError:
        legacy = ""
    if legacy.lower() != current.lower():
        raise ValueError(f"is read as two different server names ({legacy or 'none'} and {current}); give the one "
                         f"meant in its ASCII form, such as {current}")
    return value


#: Where an account's server is: no control characters, and the shape of a name or an address.
HostText = Annotated[str, AfterValidator(no_controls), AfterValidator(visible), AfterValidator(host_syntax),
                     AfterValidator(one_reading),
                     Field(json_schema_extra={"pattern": HOST_PATTERN})]
#: The notification's recipient: one address.
AddressText = Annotated[str, Field(max_length=320, json_schema_extra={"pattern": wire_text.ADDRESS_PATTERN}),
                        AfterValidator(one_address)]
#: What a migration can carry, for the schema; the rules per pair follow from the registry's systems.
OPTIONS_SCHEMA: dict[str, Any] = {"minItems": 1, "uniqueItems": True,
                                  "items": {"type": "string", "enum": list(OPERATIONS)}}
#: The systems whose server can be found from the login (the registry says which: Exchange).
AUTODISCOVERED = registry.autodiscovered()
#: The systems a request names without a server: found from the login, or set by the operator (Graph).
HOSTLESS = registry.hostless()
#: The systems whose default sign-in needs no password (the operator's app): the request may leave it out.
PASSWORDLESS = sorted(name for name, s in registry.SYSTEMS.items() if s.auth_modes[0] in s.passwordless_auth)
#: The systems that name the mailbox by the user's e-mail address (the operator says where the service is).
ADDRESSED = sorted(name for name, s in registry.SYSTEMS.items() if s.service_address is not None)
#: The rules between an endpoint's fields, for the schema: IMAP and POP3 need a server; an account of
#: an autodiscovered system without one is looked up by its login, which must then be an e-mail address;
#: a password is needed unless the account signs in with the operator's app.
ENDPOINT_RULES: dict[str, Any] = {"allOf": [
    {"if": {"properties": {"type": {"enum": HOSTLESS}}, "required": ["type"]},
     "else": {"required": ["host"], "properties": {"host": {"pattern": wire_text.NOT_BLANK_PATTERN}}}},
    {"if": {"properties": {"type": {"enum": AUTODISCOVERED}, "host": {"pattern": r"^\s*$"}}, "required": ["type"]},
     "then": {"properties": {"login": {"pattern": EMAIL_LOOKUP_PATTERN}}}},
    {"if": {"properties": {"type": {"enum": ADDRESSED}}, "required": ["type"]},
     "then": {"properties": {"login": {"pattern": EMAIL_LOOKUP_PATTERN}}}},
    {"if": {"properties": {"type": {"enum": PASSWORDLESS}, "auth": {"enum": ["app"]}}, "required": ["type"]},
     "else": {"required": ["password"], "properties": {"password": {"minLength": 1}}}},
]}


def _found_by_autodiscover() -> str:
    return " or ".join(registry.label(t) for t in AUTODISCOVERED)


class Endpoint(BaseModel):
    """One account: where it is, how to talk to it, who logs in."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=ENDPOINT_RULES)

    type: Literal["imap", "pop3", "ews", "graph"] = Field(
        description="the account's protocol; graph: Microsoft 365 / Exchange Online (no host: the operator's "
                    "setting; the login is the mailbox's address)")
    host: HostText = Field(default="", max_length=253,
                            description="server name or address; empty for Exchange means: find it by autodiscover "
                                        "(then the login must be the e-mail address)")
    port: int = Field(default=443, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = Field(default="tls", description="implicit TLS, STARTTLS, or none")
    login: LoginText = Field(min_length=1, max_length=320)
    auth: Literal["basic", "oauth2", "app"] = Field(
        default=None, validate_default=True,  # type: ignore[assignment]
        description="Exchange: basic (password) or oauth2 (password = token); Microsoft 365 (graph): app (the "
                    "operator's app for the mailbox's organisation, the default) or oauth2 (the user signed in); "
                    "default: the type's first")
    password: CleanText = Field(default="", max_length=1024, repr=False, validate_default=True,
                                description="the password (EWS oauth2: the access token; Graph oauth2: the sign-in "
                                            "id the web page's 'Sign in with Microsoft' returned; Graph app: none)")
    tls_verify: bool = Field(default=True, description="false only where the operator allows it")
    sieve_port: int | None = Field(default=None, ge=1, le=65535,
                                   description="ManageSieve port for the rules option (default 4190)")

    @field_validator("host")
    @classmethod
    def _host_needed(cls, v: str, info: ValidationInfo) -> str:
        v = v.strip()
        if info.data.get("type") in ADDRESSED:
            return ""  # where the service is, is the operator's setting, never the request's
        if not v and registry.needs_host(info.data.get("type")):
            raise ValueError(f"a server name is needed (only {_found_by_autodiscover()} can be found by autodiscover)")
        return v

    @field_validator("auth", mode="before")
    @classmethod
    def _auth(cls, v: object, info: ValidationInfo) -> object:
        modes = registry.auth_modes(info.data.get("type"))
        if v is None:
            return modes[0]
        if isinstance(v, str) and v not in modes:
            raise ValueError(f"{registry.label(str(info.data.get('type')))} accounts sign in with "
                             f"{' or '.join(modes)}")
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v: str, info: ValidationInfo) -> str:
        auth = info.data.get("auth")
        if not v and (auth is None or registry.needs_password(info.data.get("type"), str(auth))):
            raise ValueError("String should have at least 1 character")
        return v

    @field_validator("login")
    @classmethod
    def _login(cls, v: str, info: ValidationInfo) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        if info.data.get("type") in ADDRESSED:
            try:
                parse_email(v)
            except InvalidEmail as exc:
                raise ValueError(f"a {registry.label(info.data['type'])} account is named by its e-mail address: "
                                 f"{exc}") from None
        if info.data.get("type") in AUTODISCOVERED and info.data.get("host") == "":
            try:
                parse_email(v)
            except InvalidEmail as exc:
                raise ValueError(f"an {registry.label(info.data['type'])} account without a server is found by "
                                 f"autodiscover from its e-mail "
                                 f"address: {exc}; give the e-mail address or the server name (host)") from None
        return v


class MigrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Endpoint
    target: Endpoint
    options: list[str] = Field(default_factory=lambda: ["emails"], max_length=len(OPERATIONS),
                               json_schema_extra=OPTIONS_SCHEMA,
                               description="what to migrate (which of them a pair can take: GET /api/v1/option-rules)")
    notify_email: AddressText | None = None


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: LoginText = Field(min_length=1, max_length=320, description="the source login")


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: LoginText = Field(min_length=1, max_length=320, description="the source login")
    target_password: CleanText = Field(
        default="", max_length=1024, repr=False,
        description="asked again: undo removes data from the target. The target's password; for a Microsoft 365 "
                    "target the user signed in to on the web page, the id of a new sign-in (the undo answers 409 "
                    "sign_in_required with the sign-in URL without one); for one the operator's app signs in to, "
                    "nothing (the migration's status says which: undo_asks)")


class ControlAccepted(BaseModel):
    id: str
    state: str


class Accepted(BaseModel):
    id: str
    status_url: str


class ItemCounts(BaseModel):
    total: int
    done: int
    skipped: int
    failed: int
    bytes: int


class Transition(BaseModel):
    state: str
    at: str


class MigrationStatus(BaseModel):
    id: str
    state: str
    created_at: str
    updated_at: str
    finished_at: str | None = None
    current_operation: str | None
    options: list[str]
    items: dict[str, ItemCounts]
    errors: list[dict[str, object]]
    history: list[Transition]
    error: str | None = None
    undo_possible_until: str | None = None
    #: What an undo needs besides the ID and source login: the target's password, a new sign-in, or nothing.
    undo_asks: Literal["password", "sign_in", "nothing"] | None = None
    undo_sign_in_url: str | None = None
    undo: dict[str, object] | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    side: str | None = None
    field: str | None = None
    sign_in_url: str | None = Field(default=None, description="only with sign_in_required and sign_in_expired on "
                                    "an undo: where the browser signs in again (a redirect to the sign-in service)")


class ErrorResponse(BaseModel):
    error: ErrorBody
