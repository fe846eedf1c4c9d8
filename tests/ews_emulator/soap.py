"""SOAP envelope parsing and building for the EWS emulator.

Everything that turns bytes into an operation element and a result back into
bytes lives here, together with the error type that operations raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
E_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP_NS, "m": M_NS, "t": T_NS}

# RequestServerVersion values an Exchange 2016 server accepts.
KNOWN_API_VERSIONS = frozenset(
    {
        "Exchange2007",
        "Exchange2007_SP1",
        "Exchange2010",
        "Exchange2010_SP1",
        "Exchange2010_SP2",
        "Exchange2013",
        "Exchange2013_SP1",
        "Exchange2015",
        "Exchange2016",
    }
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=True)


@dataclass
class EwsError(Exception):
    """An EWS ResponseCode, raised by operation handlers and turned into a response message."""

    code: str
    text: str = ""
    values: dict[str, str] = field(default_factory=dict)
    # A fault aborts the whole request (SOAP Fault); otherwise only one response message fails.
    fault: bool = False
    # The property at fault, said in MessageXml as <t:FieldURI> (the "CreateFolderPath operation" error sample).
    field_uri: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.text}"


def schema_error(violation: str) -> EwsError:
    """A request Exchange would refuse at schema validation (SOAP fault ErrorSchemaValidation)."""
    return EwsError(
        "ErrorSchemaValidation", "The request failed schema validation.", {"Violation": violation}, True
    )


def qn(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def tq(tag: str) -> str:
    return qn(T_NS, tag)


def mq(tag: str) -> str:
    return qn(M_NS, tag)


def local(elem: Any) -> str:
    return str(etree.QName(elem).localname)


def ns_of(elem: Any) -> str:
    return str(etree.QName(elem).namespace or "")


def m_el(tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.Element(mq(tag), nsmap={"m": M_NS, "t": T_NS})
    if text is not None:
        el.text = text
    for k, v in attrs.items():
        el.set(k, v)
    return el


def t_el(tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.Element(tq(tag), nsmap={"t": T_NS})
    if text is not None:
        el.text = text
    for k, v in attrs.items():
        el.set(k, v)
    return el


def sub(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, qn(ns, tag))
    if text is not None:
        el.text = text
    for k, v in attrs.items():
        el.set(k, v)
    return el


def child(elem: Any, ns: str, tag: str) -> Any:
    return elem.find(qn(ns, tag))


def require(elem: Any, ns: str, tag: str) -> Any:
    found = elem.find(qn(ns, tag))
    if found is None:
        raise schema_error(f"The element '{local(elem)}' has incomplete content. Expected: '{tag}'.")
    return found


def text_of(elem: Any, ns: str, tag: str, default: str | None = None) -> str | None:
    found = elem.find(qn(ns, tag))
    if found is None or found.text is None:
        return default
    return str(found.text)


@dataclass
class SoapRequest:
    operation: Any  # the first child of s:Body
    api_version: str | None
    impersonated: str | None  # PrimarySmtpAddress / SmtpAddress in ExchangeImpersonation


def parse_request(body: bytes) -> SoapRequest:
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise EwsError("ErrorInvalidRequest", f"The request is not well-formed XML: {e}", fault=True) from e
    if root.tag != qn(SOAP_NS, "Envelope"):
        raise schema_error(f"Root element is '{local(root)}', expected a SOAP 1.1 'Envelope'.")
    header = child(root, SOAP_NS, "Header")
    body_el = child(root, SOAP_NS, "Body")
    if body_el is None or len(body_el) == 0:
        raise schema_error("The SOAP envelope has no Body content.")
    api_version = None
    impersonated = None
    if header is not None:
        for h in header:
            name = local(h)
            if name == "RequestServerVersion":
                api_version = h.get("Version")
                if api_version not in KNOWN_API_VERSIONS:
                    raise EwsError(
                        "ErrorInvalidServerVersion",
                        f"The specified server version is invalid: {api_version}",
                        fault=True,
                    )
            elif name == "ExchangeImpersonation":
                sid = h.find(tq("ConnectingSID"))
                for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                    v = text_of(sid, T_NS, tag) if sid is not None else None
                    if v:
                        impersonated = v
                        break
            elif name in ("TimeZoneContext", "MailboxCulture", "DateTimePrecision", "ManagementRole"):
                continue
            else:
                raise schema_error(f"The SOAP header contains the unexpected element '{name}'.")
    op = body_el[0]
    if ns_of(op) != M_NS:
        raise schema_error(
            f"The element 'Body' has invalid child element '{local(op)}' in namespace '{ns_of(op)}'."
        )
    return SoapRequest(op, api_version, impersonated)


def _envelope(api_version: str | None) -> tuple[Any, Any]:
    # Shape: the s:Envelope/s:Header/h:ServerVersionInfo of the "GetInboxRules operation" response sample.
    env = etree.Element(qn(SOAP_NS, "Envelope"), nsmap={"s": SOAP_NS})
    header = sub(env, SOAP_NS, "Header")
    info = etree.SubElement(header, tq("ServerVersionInfo"), nsmap={"h": T_NS})
    # Exchange 2016 CU (build 15.1.2507.6), as in the ServerVersionInfo of the published samples.
    for k, v in (
        ("MajorVersion", "15"),
        ("MinorVersion", "1"),
        ("MajorBuildNumber", "2507"),
        ("MinorBuildNumber", "6"),
    ):
        info.set(k, v)
    info.set("Version", api_version or "Exchange2016")
    body = sub(env, SOAP_NS, "Body")
    return env, body


def serialize(env: Any) -> bytes:
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def envelope_with(payload: Any, api_version: str | None) -> bytes:
    env, body = _envelope(api_version)
    body.append(payload)
    return serialize(env)


def fault_envelope(err: EwsError, api_version: str | None) -> bytes:
    # Shape follows the SOAP fault in "EWS throttling in Exchange" / the ErrorSchemaValidation
    # faults Exchange returns (faultcode a:<code>, detail e:ResponseCode, e:Message, t:MessageXml).
    env = etree.Element(qn(SOAP_NS, "Envelope"), nsmap={"s": SOAP_NS})
    body = sub(env, SOAP_NS, "Body")
    fault = sub(body, SOAP_NS, "Fault")
    code = etree.SubElement(
        fault, "faultcode", nsmap={"a": T_NS if err.code.startswith("Error") else SOAP_NS}
    )
    code.text = f"a:{err.code}"
    etree.SubElement(fault, "faultstring").text = err.text or err.code
    detail = etree.SubElement(fault, "detail")
    etree.SubElement(detail, qn(E_NS, "ResponseCode"), nsmap={"e": E_NS}).text = err.code
    etree.SubElement(detail, qn(E_NS, "Message"), nsmap={"e": E_NS}).text = err.text or err.code
    if err.values:
        mx = etree.SubElement(detail, tq("MessageXml"), nsmap={"t": T_NS})
        for k, v in err.values.items():
            if k == "Violation":
                sub(mx, T_NS, "LineNumber", "1")
                sub(mx, T_NS, "LinePosition", "1")
                sub(mx, T_NS, "Violation", v)
            else:
                sub(mx, T_NS, "Value", v, Name=k)
    return serialize(env)


def response_message(op_name: str, err: EwsError | None = None, msg_name: str | None = None) -> Any:
    """One <m:FooResponseMessage> (ResponseCode first, then MessageText/MessageXml on error)."""
    # Shape: the ResponseMessage of every "<Operation> operation" sample; the error form follows the
    # "GetItem operation" error response sample (MessageText, ResponseCode, DescriptiveLinkKey, MessageXml).
    msg = m_el(msg_name or f"{op_name}ResponseMessage")
    if err is None:
        msg.set("ResponseClass", "Success")
        sub(msg, M_NS, "ResponseCode", "NoError")
        return msg
    msg.set("ResponseClass", "Error")
    sub(msg, M_NS, "MessageText", err.text or err.code)
    sub(msg, M_NS, "ResponseCode", err.code)
    sub(msg, M_NS, "DescriptiveLinkKey", "0")
    if err.values or err.field_uri:
        mx = sub(msg, M_NS, "MessageXml")
        if err.field_uri:
            sub(mx, T_NS, "FieldURI", FieldURI=err.field_uri)
        for k, v in err.values.items():
            sub(mx, T_NS, "Value", v, Name=k)
    return msg


def multi_response(op_name: str, messages: list[Any]) -> Any:
    """<m:FooResponse><m:ResponseMessages>...</m:ResponseMessages></m:FooResponse>."""
    # Shape: the outer element of every batched "<Operation> operation" response sample.
    resp = m_el(f"{op_name}Response")
    msgs = sub(resp, M_NS, "ResponseMessages")
    for msg in messages:
        msgs.append(msg)
    return resp


def per_message(op_name: str, fn: Callable[[Any, Any], None], inputs: Iterable[Any]) -> Any:
    """A batched operation's response: one message per input, filled by ``fn(message, input)``; an EwsError
    that is not a fault becomes that input's error message and the others still run (as Exchange does)."""
    msgs = []
    for x in inputs:
        try:
            msg = response_message(op_name)
            fn(msg, x)
        except EwsError as e:
            if e.fault:
                raise
            msg = response_message(op_name, e)
        msgs.append(msg)
    return multi_response(op_name, msgs)


def copy_el(elem: Any) -> Any:
    return etree.fromstring(etree.tostring(elem), _PARSER)
