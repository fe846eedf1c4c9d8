"""Events about a migration as a whole: the request and the control commands."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import Event, register

EndpointType = Literal["imap", "pop3", "ews", "graph", "pst"]
Security = Literal["tls", "starttls", "none"]


class EndpointSpec(BaseModel):
    """Where to connect and as whom. The password is sealed under the migration's data key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EndpointType
    host: str
    port: int = Field(ge=1, le=65535)
    security: Security
    login: str
    tls_verify: bool = True
    password_sealed: str = Field(repr=False)
    sieve_port: int | None = Field(default=None, ge=1, le=65535, description="ManageSieve, for the rules option")
    auth: Literal["basic", "oauth2", "app"] = Field(
        default="basic", description="EWS: password, or an OAuth2 access token; Graph: app (the operator's app for "
                                     "the tenant) or oauth2 (the user's sign-in, its tokens sealed as the password)")
    path: str = Field(default="", description="PST: the uploaded file, relative to the spool directory")


class MailFilters(BaseModel):
    """Which mail a migration copies: folders by name (a name covers its subfolders), and a date window on
    each message's received date (INTERNALDATE). Empty lists and no dates: everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    include_folders: list[str] = Field(default_factory=list, max_length=100,
                                       description="only these folders (and their subfolders); empty: all")
    exclude_folders: list[str] = Field(default_factory=list, max_length=100,
                                       description="never these folders (nor their subfolders)")
    received_before: datetime | None = Field(default=None, description="only mail received before (pre-stage)")
    received_since: datetime | None = Field(default=None, description="only mail received at or after")


@register
class MigrationRequested(Event):
    """Intake accepted a migration after both logins were checked."""

    EVENT_TYPE = "migration.requested"
    VERSION = 1

    source: EndpointSpec
    target: EndpointSpec
    options: list[str]
    notify_email: str | None = None
    pair_id: str = Field(description="stable id of (source account, target account): scopes the ledger")
    filters: MailFilters | None = Field(default=None, description="e-mails: which folders and dates (all if none)")


@register
class ControlCommand(Event):
    """Cancel or undo, as asked by the user through intake."""

    EVENT_TYPE = "migration.control"
    VERSION = 1

    command: Literal["cancel", "undo"]
    target_password_sealed: str | None = Field(default=None, repr=False)


@register
class OperationRequested(Event):
    """Start the next operation of a migration (the tracker asks when the previous one finished)."""

    EVENT_TYPE = "migration.operation_requested"
    VERSION = 1

    operation: str
