"""The REST API's request and response bodies (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Endpoint(BaseModel):
    """One account: where it is, how to talk to it, who logs in."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["imap", "pop3", "ews"] = Field(description="the account's protocol")
    host: str = Field(default="", max_length=253,
                      description="server name or address; empty for Exchange means: find it by autodiscover")
    port: int = Field(default=443, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = Field(default="tls", description="implicit TLS, STARTTLS, or none")
    login: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024, repr=False)
    tls_verify: bool = Field(default=True, description="false only where the operator allows it")
    sieve_port: int | None = Field(default=None, ge=1, le=65535,
                                   description="ManageSieve port for the rules option (default 4190)")
    auth: Literal["basic", "oauth2"] = Field(default="basic",
                                             description="Exchange: basic (password) or oauth2 (password = token)")

    @field_validator("login")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _host_needed(self) -> Endpoint:
        self.host = self.host.strip()
        if not self.host and self.type != "ews":
            raise ValueError("host: a server name is needed (only Exchange can be found by autodiscover)")
        return self


class MigrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Endpoint
    target: Endpoint
    options: list[str] = Field(default_factory=lambda: ["emails"], description="what to migrate")
    notify_email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(min_length=1, max_length=320, description="the source login")


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(min_length=1, max_length=320, description="the source login")
    target_password: str = Field(min_length=1, max_length=1024, repr=False,
                                 description="asked again: undo removes data from the target")


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
    undo: dict[str, object] | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    side: str | None = None
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
