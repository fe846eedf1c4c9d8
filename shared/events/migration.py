"""Events about a migration as a whole: the request and the control commands."""

from __future__ import annotations

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
