"""The neutral contact record: what a contact is, whatever format or system it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class TypedValue:
    """An e-mail address, phone number or URL with its TYPE values (lower case) and preference."""

    value: str
    types: list[str] = field(default_factory=list)
    pref: int | None = None  # 1 = most preferred (vCard 4 PREF=1, vCard 3 TYPE=pref)
    group: str | None = None  # "item1" in item1.EMAIL (Apple labels)
    params: dict[str, list[str]] = field(default_factory=dict)  # other parameters, kept as they came


@dataclass
class Address:
    """A postal address (ADR) split the vCard way."""

    street: str = ""
    locality: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    po_box: str = ""
    extended: str = ""
    types: list[str] = field(default_factory=list)
    pref: int | None = None
    label: str | None = None  # vCard 4 LABEL parameter
    group: str | None = None
    params: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ContactCard:
    """A contact, independent of where it came from. Text fields are unescaped; ``extra`` holds raw lines."""

    formatted_name: str = ""  # FN (display name)
    family_name: str = ""
    given_name: str = ""
    middle_name: str = ""  # N "additional names"
    prefix: str = ""
    suffix: str = ""
    nickname: str | None = None
    emails: list[TypedValue] = field(default_factory=list)
    phones: list[TypedValue] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    organization: str | None = None
    department: str | None = None  # first ORG unit
    org_units: list[str] = field(default_factory=list)  # further ORG units
    title: str | None = None
    birthday: date | str | None = None  # a date, or the raw value when partial (--0415) or with a time
    anniversary: date | str | None = None
    note: str | None = None
    urls: list[TypedValue] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    photo: str | None = None  # base64, no line breaks
    photo_type: str | None = None  # media type, e.g. image/jpeg
    photo_uri: str | None = None  # a PHOTO given by reference (http:...), not embedded
    uid: str | None = None
    extra: list[str] = field(default_factory=list)  # unfolded content lines of properties not mapped above
    version: str = field(default="3.0", compare=False)  # the version it was read as

    @property
    def display_name(self) -> str:
        if self.formatted_name:
            return self.formatted_name
        parts = [self.prefix, self.given_name, self.middle_name, self.family_name, self.suffix]
        return " ".join(p for p in parts if p) or (self.organization or "")
