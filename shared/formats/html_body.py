"""An event's or task's HTML body in iCalendar: ``X-ALT-DESC;FMTTYPE=text/html``, beside a plain DESCRIPTION.

Exchange and Microsoft 365 keep most calendar bodies as HTML. iCalendar's DESCRIPTION is plain text, so the
HTML travels as Outlook's and Thunderbird's ``X-ALT-DESC`` property and DESCRIPTION carries its text, for
readers that know only DESCRIPTION. A target that takes HTML writes the HTML back; one that does not writes
the text (never the markup as text).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import icalendar

from .ical_lines import unfolded
from .ical_records import EventRecord, TaskRecord

ALT_DESC = "X-ALT-DESC"
_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote",
           "pre", "hr"}
_HIDDEN = {"head", "style", "script", "title"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """The text a reader sees in an HTML body: tags dropped, each block on a line, entities decoded."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).replace("\xa0", " ").split("\n")]
    return "\n".join(line for line in lines if line)


def html_line(html: str) -> str:
    """The X-ALT-DESC content line for an HTML body."""
    return f"{ALT_DESC};FMTTYPE=text/html:{icalendar.vText(html).to_ical().decode()}"


def is_alt_desc(line: str) -> bool:
    return line.split(":", 1)[0].split(";", 1)[0].strip().upper() == ALT_DESC


def html_of(extra: list[str]) -> str | None:
    """The HTML body a record's kept lines carry, if any."""
    for line in extra:
        if not is_alt_desc(line):
            continue
        try:
            _name, params, value = unfolded(line)[0].parts()  # unescaped by the library
        except ValueError:
            continue
        if str(params.get("FMTTYPE") or "").lower() == "text/html":
            return str(value)
    return None


def set_body(rec: EventRecord | TaskRecord, content: str, is_html: bool) -> None:
    """A body read from a system: HTML as X-ALT-DESC with its text as DESCRIPTION, text as DESCRIPTION."""
    if is_html:
        rec.description = html_to_text(content) or None
        rec.extra.append(html_line(content))
    else:
        rec.description = content


def body_of(rec: EventRecord | TaskRecord) -> tuple[str, bool] | None:
    """(content, is HTML) to write: the HTML when the record carries it, else DESCRIPTION."""
    html = html_of(rec.extra)
    if html is not None:
        return html, True
    return (rec.description, False) if rec.description is not None else None


__all__ = ["ALT_DESC", "body_of", "html_line", "html_of", "html_to_text", "is_alt_desc", "set_body"]
