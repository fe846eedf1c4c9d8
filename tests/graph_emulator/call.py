"""One Graph request as the handlers see it, and the answer they give back."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .aad import Principal
from .errors import GraphError, bad_request
from .store import Mailbox

if TYPE_CHECKING:
    from .emulator import GraphEmulator

MAX_JSON_BODY = 4 * 1024 * 1024  # Graph refuses request bodies over 4 MB (large attachments go in upload sessions)


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able object, raw bytes, or None for no content
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false"
    entity_type: str | None = None  # the model type of the body (or of each item in body["value"])
    collection: bool = False


@dataclass
class Call:
    emulator: GraphEmulator
    method: str
    segments: list[str]  # path after /v1.0/{me | users/{id}}, keys split out as their own segments
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    principal: Principal
    mailbox: Mailbox
    base: str  # https://host:port/v1.0
    owner: str  # "me" or "users/{id}", the path prefix the request used

    @property
    def user_path(self) -> str:
        return f"{self.base}/users('{self.mailbox.user_id}')"

    def prefer(self, name: str) -> str | None:
        """A preference of the Prefer header: outlook.timezone, IdType, odata.maxpagesize, outlook.body-content-type."""
        for header in [v for k, v in self.headers.items() if k.lower() == "prefer"]:
            for part in header.split(","):
                key, _, value = part.strip().partition("=")
                if key.strip().lower() == name.lower():
                    return value.strip().strip('"')
        return None

    @property
    def immutable_ids(self) -> bool:
        return (self.prefer("IdType") or "").lower() == "immutableid"

    def content_type(self) -> str:
        for k, v in self.headers.items():
            if k.lower() == "content-type":
                return v.split(";")[0].strip().lower()
        return ""

    def json(self) -> Any:
        """The JSON body; Graph answers 400 when it is missing, not JSON, or sent with another content type."""
        if len(self.body) > MAX_JSON_BODY:
            raise GraphError(413, "RequestEntityTooLarge", f"The request body of {len(self.body)} bytes exceeds the "
                                                           f"maximum of {MAX_JSON_BODY} bytes.")
        if self.content_type() != "application/json":
            raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and "
                              "payload is of valid JSON format.")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and "
                              "payload is of valid JSON format.") from e


_KEY = re.compile(r"^([A-Za-z]+)\('([^']*)'\)$")


def split_keys(segments: list[str]) -> list[str]:
    """`mailFolders('AAMk..')` -> `mailFolders`, `AAMk..` (the key form Graph's own links use)."""
    out: list[str] = []
    for seg in segments:
        m = _KEY.match(seg)
        out.extend([m.group(1), m.group(2)] if m else [seg])
    return out
