"""POX autodiscover (`POST /autodiscover/autodiscover.xml`), enough for a client to find the EWS URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

if TYPE_CHECKING:
    from .server import EwsEmulator
    from .store import Mailbox

POX_PATH = "/autodiscover/autodiscover.xml"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _el(parent: Any, tag: str, text: str | None = None) -> Any:
    el = etree.SubElement(parent, f"{{{OUTLOOK_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def handle_pox(
    emu: EwsEmulator, auth: tuple[str | None, Mailbox | None, bool], body: bytes
) -> tuple[int, bytes]:
    # Response shape: "Autodiscover for Exchange" POX sample (learn.microsoft.com,
    # "Get user settings from Exchange by using Autodiscover" / "Response (POX)").
    root = etree.Element(f"{{{RESPONSE_NS}}}Autodiscover", nsmap={None: RESPONSE_NS})
    resp = etree.SubElement(root, f"{{{OUTLOOK_NS}}}Response", nsmap={None: OUTLOOK_NS})
    try:
        req = etree.fromstring(body, _PARSER)
        address = req.findtext(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}EMailAddress")
        schema = req.findtext(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}AcceptableResponseSchema")
    except etree.XMLSyntaxError:
        address, schema = None, None
    mbx = emu.mailboxes.get((address or "").lower())
    if schema != OUTLOOK_NS or mbx is None:
        error = _el(resp, "Error")
        error.set("Time", "00:00:00.0000000")
        error.set("Id", "0")
        _el(error, "ErrorCode", "600" if schema != OUTLOOK_NS else "500")
        _el(
            error,
            "Message",
            "Invalid Request" if schema != OUTLOOK_NS else "The email address can't be found.",
        )
        _el(error, "DebugData", "")
    else:
        user = _el(resp, "User")
        _el(user, "DisplayName", mbx.smtp.split("@")[0])
        _el(user, "AutoDiscoverSMTPAddress", mbx.smtp)
        account = _el(resp, "Account")
        _el(account, "AccountType", "email")
        _el(account, "Action", "settings")
        for kind in ("EXCH", "EXPR"):
            proto = _el(account, "Protocol")
            _el(proto, "Type", kind)
            _el(proto, "Server", emu.host)
            _el(proto, "ASUrl", emu.url)
            _el(proto, "EwsUrl", emu.url)
            _el(proto, "AuthPackage", "Basic")
    return 200, bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
