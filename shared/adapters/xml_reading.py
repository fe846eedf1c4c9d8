"""Reading XML a stranger wrote (autoconfig files, autodiscover answers): defusedxml, namespaces ignored.

No entities, no DTD tricks, no external fetches; anything unparsable is "no answer", never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException


def parse_xml(body: bytes) -> Element | None:
    """The document's root, or None for anything unparsable or refused by defusedxml."""
    try:
        root: Element = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        return None
    return root


def local_name(tag: Any) -> str:
    """Tag without namespace: these files come with and without one."""
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1]


def child_text(el: Element, name: str) -> str:
    """The stripped text of the first child called ``name`` ("" when there is none)."""
    for child in el:
        if local_name(child.tag) == name:
            return (child.text or "").strip()
    return ""


def children_text(el: Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in el if local_name(child.tag) == name]


def iter_named(root: Element, name: str) -> Iterable[Element]:
    """Every element called ``name`` below ``root``, at any depth."""
    return (el for el in root.iter() if local_name(el.tag) == name)
