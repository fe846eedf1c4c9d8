"""Property paths (FieldURI / IndexedFieldURI / ExtendedFieldURI), response shapes and paging views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .extended import identity
from .soap import M_NS, T_NS, EwsError, child, local, schema_error, sub, tq

# IndexedFieldURI FieldURI prefix -> container element of the indexed entries.
INDEXED_CONTAINERS = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
    "contacts:PhysicalAddress": "PhysicalAddresses",
}

# FieldURIs whose element name is not the part after the colon.
FIELD_ALIASES = {
    "item:ItemId": "ItemId",
    "folder:FolderId": "FolderId",
    "contacts:Companies": "Companies",
}

MAX_PAGE = 1000  # EWSFindCountLimit of the default throttling policy ("EWS throttling in Exchange")


@dataclass(frozen=True)
class Path:
    kind: str  # "field" | "indexed" | "extended"
    uri: str = ""  # FieldURI value (field, indexed)
    index: str = ""  # FieldIndex (indexed)
    ext: tuple[str, ...] = ()  # the property an ExtendedFieldURI names, normalized (extended)
    ext_attrs: tuple[tuple[str, str], ...] = ()  # that ExtendedFieldURI as the client wrote it

    @property
    def element(self) -> str:
        """Local name of the element this path addresses inside an item/folder element."""
        if self.kind == "extended":
            return "ExtendedProperty"
        if self.kind == "indexed":
            base = self.uri.split(":")[0] + ":" + self.uri.split(":")[1]
            return INDEXED_CONTAINERS[base]
        return FIELD_ALIASES.get(self.uri, self.uri.split(":", 1)[1])

    @property
    def sub_field(self) -> str | None:
        """For contacts:PhysicalAddress:Street -> 'Street'."""
        parts = self.uri.split(":")
        return parts[2] if self.kind == "indexed" and len(parts) == 3 else None

    def key(self) -> str:
        return self.uri or repr(self.ext)


def parse_path(el: Any) -> Path:
    name = local(el)
    if name == "FieldURI":
        uri = el.get("FieldURI")
        if not uri or ":" not in uri:
            raise schema_error(f"The 'FieldURI' attribute is invalid: {uri!r}")
        return Path("field", uri)
    if name == "IndexedFieldURI":
        uri, index = el.get("FieldURI") or "", el.get("FieldIndex") or ""
        base = ":".join(uri.split(":")[:2])
        if base not in INDEXED_CONTAINERS or not index:
            raise schema_error(f"The 'IndexedFieldURI' {uri!r}/{index!r} is invalid.")
        return Path("indexed", uri, index)
    if name == "ExtendedFieldURI":
        return Path("extended", ext=identity(el.attrib), ext_attrs=tuple(el.attrib.items()))
    raise schema_error(f"Unexpected property path element '{name}'.")


def path_elements(parent: Any) -> list[Any]:
    return [c for c in parent if local(c) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")]


@dataclass
class Shape:
    base: str = "IdOnly"
    paths: list[Path] = field(default_factory=list)
    include_mime: bool = False
    body_type: str | None = None

    def wants(self, element: str) -> bool:
        return any(p.element == element for p in self.paths)


def parse_shape(shape_el: Any | None) -> Shape:
    if shape_el is None:
        raise schema_error(
            "The request has incomplete content: a shape element (ItemShape/FolderShape) is required."
        )
    shape = Shape()
    for c in shape_el:
        name = local(c)
        if name == "BaseShape":
            if c.text not in ("IdOnly", "Default", "AllProperties"):
                raise schema_error(f"The BaseShape value {c.text!r} is invalid.")
            shape.base = str(c.text)
        elif name == "IncludeMimeContent":
            shape.include_mime = (c.text or "").strip().lower() == "true"
        elif name == "BodyType":
            shape.body_type = c.text
        elif name == "AdditionalProperties":
            shape.paths = [parse_path(p) for p in c]
        elif name in (
            "FilterHtmlContent",
            "ConvertHtmlCodePageToUTF8",
            "AddBlankTargetToLinks",
            "InlineImageUrlTemplate",
        ):
            continue
        else:
            raise schema_error(f"The element '{local(shape_el)}' has invalid child element '{name}'.")
    return shape


@dataclass
class Paging:
    offset: int = 0
    max_entries: int | None = None
    from_end: bool = False


def parse_paging(op: Any, view_tag: str) -> Paging:
    view = child(op, M_NS, view_tag)
    if view is None:
        for other in ("FractionalPageItemView", "FractionalPageFolderView", "SeekToConditionPageItemView"):
            if child(op, M_NS, other) is not None:
                raise schema_error(f"'{other}' is not implemented by the EWS emulator.")
        return Paging()
    try:
        offset = int(view.get("Offset", "0"))
        max_entries = view.get("MaxEntriesReturned")
        paging = Paging(
            offset, int(max_entries) if max_entries is not None else None, view.get("BasePoint") == "End"
        )
    except ValueError as e:
        raise schema_error(f"Invalid {view_tag} attribute: {e}") from e
    if view.get("BasePoint") not in ("Beginning", "End"):
        raise schema_error(f"{view_tag} requires BasePoint='Beginning' or 'End'.")
    if paging.offset < 0 or (paging.max_entries is not None and paging.max_entries < 1):
        raise EwsError("ErrorInvalidPagingMaxRows", "MaxEntriesReturned/Offset out of range.")
    return paging


def page(entries: list[Any], paging: Paging, container: Any, container_tag: str) -> tuple[Any, list[Any]]:
    """Cut one page out of entries; set IndexedPagingOffset/TotalItemsInView/IncludesLastItemInRange.

    Follows the RootFolder attributes of the published "FindItem operation" and "FindFolder operation"
    response samples; pages are capped at MAX_PAGE like Exchange's EWSFindCountLimit.
    """
    total = len(entries)
    limit = min(paging.max_entries or MAX_PAGE, MAX_PAGE)
    if paging.from_end:
        end = max(total - paging.offset, 0)
        start = max(end - limit, 0)
        chunk = entries[start:end]
        next_offset = paging.offset + len(chunk)
        last = start == 0
    else:
        start = min(paging.offset, total)
        chunk = entries[start : start + limit]
        next_offset = start + len(chunk)
        last = next_offset >= total
    container.set("IndexedPagingOffset", str(next_offset))
    container.set("TotalItemsInView", str(total))
    container.set("IncludesLastItemInRange", "true" if last else "false")
    holder = sub(container, T_NS, container_tag)
    return holder, chunk


def bool_text(v: bool) -> str:
    return "true" if v else "false"


def effective_rights(parent: Any) -> None:
    er = parent.makeelement(tq("EffectiveRights"), {})
    parent.append(er)
    for name in (
        "CreateAssociated",
        "CreateContents",
        "CreateHierarchy",
        "Delete",
        "Modify",
        "Read",
        "ViewPrivateItems",
    ):
        sub(er, T_NS, name, "true")
