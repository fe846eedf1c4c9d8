"""A project's rows from CSV: one mailbox a line, every bad line reported with its line, field and reason.

Each row becomes the same two :class:`~services.intake.api_models.Endpoint` a single migration request
has, so a row is refused for exactly what the REST API refuses (control characters, a missing server, an
option the pair cannot carry), plus what only a spreadsheet brings: a cell that starts a formula (it would
run when an operator opens an export), a cell longer than :data:`MAX_CELL`, bytes that are not UTF-8, the
same source account twice. Empty cells take the project's defaults (a project-wide admin or master-user
credential: its password, and a login format such as ``{login}*admin`` for Dovecot's master users).
Pure code: the caller gives the lines and keeps the rows.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from services.intake.api_models import OPTIONS_SCHEMA, AddressText, CleanText, Endpoint, HostText, no_controls
from shared.adapters import registry
from shared.migration_state import OPERATIONS

MAX_ROWS = 50_000
MAX_CELL = 1024
SIDES = ("source", "target")
ENDPOINT_FIELDS = ("type", "host", "port", "security", "login", "password", "auth")
COLUMNS = (*tuple(f"{side}_{name}" for side in SIDES for name in ENDPOINT_FIELDS), "options")
REQUIRED = ("source_login", "target_login")
#: Cells the first line may have: every column once, and room for a few unknown ones to be named.
MAX_COLUMNS = 2 * len(COLUMNS)
#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@")
#: Cells where a leading formula character cannot be legitimate (never a password: any character goes there).
FORMULA_CHECKED = frozenset(c for c in COLUMNS if not c.endswith("_password"))


def _choices(name: str) -> tuple[str, ...]:
    """What the REST API takes in an account's field (its Literal), for the project's defaults."""
    return tuple(str(c) for c in get_args(Endpoint.model_fields[name].annotation))


class SideDefaults(BaseModel):
    """What an empty cell of one side means; ``password`` is the project-wide (admin / master-user) one."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(default="", max_length=16, json_schema_extra={"enum": ["", *_choices("type")]})
    host: HostText = Field(default="", max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: str = Field(default="", max_length=16, json_schema_extra={"enum": ["", *_choices("security")]})
    auth: str = Field(default="", max_length=16, json_schema_extra={"enum": ["", *_choices("auth")]})
    password: CleanText = Field(default="", max_length=1024, repr=False)
    login_format: CleanText = Field(default="{login}", max_length=320, pattern=r"^[^{}]*\{login\}[^{}]*$",
                                    description="how the row's login is sent, e.g. {login}*admin (a Dovecot "
                                                "master user); the row keeps its own login")

    @field_validator("type", "security", "auth")
    @classmethod
    def _one_of_the_apis(cls, v: str, info: ValidationInfo) -> str:
        """A default the API would refuse is refused here, not on every row it fills."""
        known = _choices(str(info.field_name))
        if v and v not in known:
            raise ValueError(f"must be empty or one of {', '.join(known)}")
        return v


class FolderFilters(BaseModel):
    """Folders every row's e-mails are limited to, or kept from (a name covers its subfolders)."""

    model_config = ConfigDict(extra="forbid")

    include: list[Annotated[CleanText, Field(min_length=1, max_length=255)]] = Field(default_factory=list,
                                                                                     max_length=100)
    exclude: list[Annotated[CleanText, Field(min_length=1, max_length=255)]] = Field(default_factory=list,
                                                                                     max_length=100)


class ProjectSettings(BaseModel):
    """The project's part beside the CSV: its name, defaults for empty cells, the notification."""

    model_config = ConfigDict(extra="forbid")

    name: CleanText = Field(min_length=1, max_length=200)
    options: list[str] = Field(default_factory=lambda: ["emails"], json_schema_extra=OPTIONS_SCHEMA)
    source: SideDefaults = Field(default_factory=SideDefaults)
    target: SideDefaults = Field(default_factory=SideDefaults)
    notify_email: AddressText | None = None
    folders: FolderFilters = Field(default_factory=FolderFilters)

    @field_validator("options")
    @classmethod
    def _known_options(cls, v: list[str]) -> list[str]:
        """The rows' default: at least one known option, each once (which ones a pair takes is each row's check)."""
        unknown = [o for o in v if o not in OPERATIONS]
        if unknown or not v or len(set(v)) != len(v):
            raise ValueError(f"choose each of {', '.join(OPERATIONS)} at most once, at least one")
        return v


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str


@dataclass(frozen=True)
class ParsedRow:
    """A good row: both endpoints in the API's model (passwords in clear until the caller seals them)."""

    line: int
    source: Endpoint = field(repr=False)
    target: Endpoint = field(repr=False)
    options: list[str]
    account: str  # what names the source account, for duplicates


def _cell_problem(column: str, value: str) -> str | None:
    if len(value) > MAX_CELL:
        return f"longer than {MAX_CELL} characters"
    if "\ufffd" in value:
        return "not valid UTF-8 (save the file as UTF-8)"
    try:
        no_controls(value)
    except ValueError as exc:
        return str(exc)
    if column in FORMULA_CHECKED and value.startswith(FORMULA_START):
        return "starts with = + - or @ (a spreadsheet formula); not a login, server or option"
    return None


def header_errors(header: list[str]) -> list[RowError]:
    """What is wrong with the first line. An unknown name is never repeated: a file without its header line has a
    row of data there (a password among it), and the errors are stored, published and shown."""
    names = [h.strip().lower() for h in header]
    if len(names) > MAX_COLUMNS:
        return [RowError(1, "", f"the first line has {len(names)} cells; it names the columns, at most "
                                f"{len(COLUMNS)} (columns: {', '.join(COLUMNS)})")]
    out = [RowError(1, f"column {i}", _unknown_column(h)) for i, h in enumerate(names, start=1) if h not in COLUMNS]
    out += [RowError(1, c, "this column is required") for c in REQUIRED if c not in names]
    seen: set[str] = set()
    for h in names:
        if h in seen and h in COLUMNS:
            out.append(RowError(1, h, "this column appears twice"))
        seen.add(h)
    return out


def _unknown_column(name: str) -> str:
    close = difflib.get_close_matches(name, COLUMNS, n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"not a column name ({hint}the first line names the columns: {', '.join(COLUMNS)})"


def _side(row: Mapping[str, str], side: str, defaults: SideDefaults) -> dict[str, Any]:
    def cell(name: str) -> str:
        return row.get(f"{side}_{name}", "").strip() if name != "password" else row.get(f"{side}_password", "")

    ep: dict[str, Any] = {"type": cell("type") or defaults.type or "imap", "host": cell("host") or defaults.host,
                          "login": cell("login")}
    port = cell("port")
    if port:
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses (a 500, not the row's error).
        ep["port"] = int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else port
    elif defaults.port:
        ep["port"] = defaults.port
    for name in ("security", "auth"):
        value = cell(name) or getattr(defaults, name)
        if value:
            ep[name] = value
    password = cell("password")
    if password:
        ep["password"] = password
    elif defaults.password:
        ep["password"] = defaults.password
        ep["login"] = defaults.login_format.replace("{login}", ep["login"]) if ep["login"] else ""
    return ep


def _validation_errors(line: int, side: str, exc: ValidationError) -> list[RowError]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if isinstance(p, str)]
        name = loc[0] if loc and loc[0] in ENDPOINT_FIELDS else (loc[0] if loc else "")
        column = f"{side}_{name}" if name else side
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(RowError(line, column, msg))
    return out


def parse_row(line: int, row: Mapping[str, str], settings: ProjectSettings) -> ParsedRow | list[RowError]:
    """One record (column → cell) as a row, or every error it has."""
    errors = [RowError(line, c, p) for c, v in row.items() if c in COLUMNS and (p := _cell_problem(c, v or ""))]
    if errors:
        return errors
    options_cell = row.get("options", "").strip()
    options = [o.strip() for o in options_cell.replace("|", ";").split(";") if o.strip()] if options_cell \
        else list(settings.options)
    endpoints: dict[str, Endpoint] = {}
    for side in SIDES:
        defaults = settings.source if side == "source" else settings.target
        try:
            endpoints[side] = Endpoint.model_validate(_side(row, side, defaults))
        except ValidationError as exc:
            errors += _validation_errors(line, side, exc)
    if errors:
        return errors
    src, dst = endpoints["source"], endpoints["target"]
    problems = registry.problems(src.type, dst.type, options)
    if problems:
        return [RowError(line, fld.replace(".", "_") if fld != "options" else "options", msg)
                for fld, msg in problems]
    account = f"{src.type}:{src.host.lower()}:{row.get('source_login', '').strip().lower()}"
    return ParsedRow(line, src, dst, options, account)


def parse(lines: Iterable[str], settings: ProjectSettings, seen: dict[str, int],
          room: int = MAX_ROWS) -> Iterator[ParsedRow | RowError]:
    """Every good row and every error, in file order. ``seen`` maps the source accounts already in the
    project to their line (it is added to); at most ``room`` good rows are taken."""
    reader = csv.reader(iter(lines))
    try:
        header = next(reader)
    except StopIteration:
        yield RowError(1, "", "the CSV is empty: the first line names the columns")
        return
    except csv.Error as exc:
        yield RowError(1, "", f"the header line cannot be read: {exc}")
        return
    bad = header_errors(header)
    if bad:
        yield from bad
        return
    names = [h.strip().lower() for h in header]
    taken = 0
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(line, "", f"the line cannot be read as CSV: {exc}")
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            yield RowError(line, "", f"{len(cells)} cells where the header has {len(names)}")
            continue
        outcome = parse_row(line, dict(zip(names, cells, strict=True)), settings)
        if isinstance(outcome, list):
            yield from outcome
            continue
        if outcome.account in seen:
            yield RowError(line, "source_login", f"the same source account is already on line {seen[outcome.account]}")
            continue
        if taken >= room:
            yield RowError(line, "", f"a project holds at most {MAX_ROWS} rows; this row and the rest are not added")
            return
        seen[outcome.account] = line
        taken += 1
        yield outcome
