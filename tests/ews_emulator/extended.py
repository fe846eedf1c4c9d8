"""Extended MAPI properties: which ExtendedFieldURI names which property, and which values fit it.

Follows the ExtendedFieldURI reference (learn.microsoft.com) and the PathToExtendedFieldType /
ExtendedPropertyType / MapiPropertyTypeType / DistinguishedPropertySetType schema types:
a property is named either by PropertyTag alone, or by one property set (DistinguishedPropertySetId
or PropertySetId) with one of PropertyName / PropertyId; PropertyType is required; the custom
tag range 0x8000-0xFFFE may not be addressed by tag. Two URIs name the same property when they
agree after normalizing (GUID case, a distinguished set and its GUID, a tag in hex or decimal).
Wrong combinations are ErrorInvalidExtendedProperty, values that do not fit the type
ErrorInvalidExtendedPropertyValue, restriction constants that do not ErrorInvalidValueForProperty.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .soap import EwsError, local, schema_error, tq

SCALAR_TYPES = {"ApplicationTime", "Binary", "Boolean", "CLSID", "Currency", "Double", "Float", "Integer", "Long",
                "Short", "SystemTime", "String"}
# Exist in the schema but "not used for restrictions or for getting/setting values".
UNUSABLE_TYPES = {"Error", "Null", "Object", "ObjectArray"}
MAPI_TYPES = SCALAR_TYPES | {t + "Array" for t in SCALAR_TYPES} | UNUSABLE_TYPES
# DistinguishedPropertySetType -> the property set GUID it stands for (MS-OXPROPS).
DISTINGUISHED_SETS = {
    "Meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "Appointment": "00062002-0000-0000-c000-000000000046",
    "Common": "00062008-0000-0000-c000-000000000046",
    "PublicStrings": "00020329-0000-0000-c000-000000000046",
    "Address": "00062004-0000-0000-c000-000000000046",
    "InternetHeaders": "00020386-0000-0000-c000-000000000046",
    "CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "UnifiedMessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "Task": "00062003-0000-0000-c000-000000000046",
    "Sharing": "00062040-0000-0000-c000-000000000046",
}
ATTRIBUTES = {"DistinguishedPropertySetId", "PropertySetId", "PropertyTag", "PropertyName", "PropertyId",
              "PropertyType"}
GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
TAG = re.compile(r"^(0[xX][0-9A-Fa-f]{1,4}|[0-9]{1,5})$")
INT_RANGES = {"Short": 16, "Integer": 32, "Long": 64, "Currency": 64}

Identity = tuple[str, ...]


def _invalid(why: str) -> EwsError:
    return EwsError("ErrorInvalidExtendedProperty", f"The extended property attribute combination is invalid: {why}")


def identity(attrs: Mapping[str, str]) -> Identity:
    """The property an ExtendedFieldURI names, normalized; refuses what Exchange refuses."""
    unknown = sorted(set(attrs) - ATTRIBUTES)
    if unknown:
        raise schema_error(f"The 'ExtendedFieldURI' element has invalid attribute '{unknown[0]}'.")
    ptype = attrs.get("PropertyType")
    if ptype not in MAPI_TYPES:
        raise schema_error(f"The 'PropertyType' attribute is missing or invalid: {ptype!r}.")
    dist, guid, tag = attrs.get("DistinguishedPropertySetId"), attrs.get("PropertySetId"), attrs.get("PropertyTag")
    name, pid = attrs.get("PropertyName"), attrs.get("PropertyId")
    if dist is not None and dist not in DISTINGUISHED_SETS:
        raise schema_error(f"The 'DistinguishedPropertySetId' attribute is invalid: {dist!r}.")
    if guid is not None and not GUID.match(guid):
        raise schema_error(f"The 'PropertySetId' attribute is not a GUID: {guid!r}.")
    if pid is not None and not re.fullmatch(r"-?[0-9]+", pid):
        raise schema_error(f"The 'PropertyId' attribute is not an integer: {pid!r}.")
    if tag is not None:
        if not TAG.match(tag) or int(tag, 0 if tag[:2].lower() == "0x" else 10) > 0xFFFF:
            raise schema_error(f"The 'PropertyTag' attribute is invalid: {tag!r}.")
        if dist is not None or guid is not None or name is not None or pid is not None:
            raise _invalid("PropertyTag cannot be used with a property set, PropertyName or PropertyId.")
        number = int(tag, 0 if tag[:2].lower() == "0x" else 10)
        if 0x8000 <= number <= 0xFFFE:
            raise _invalid("custom properties (0x8000-0xFFFE) must be named by property set and name or id.")
        return ("tag", str(number), str(ptype))
    if (dist is None) == (guid is None):
        raise _invalid("exactly one of DistinguishedPropertySetId and PropertySetId is required.")
    if (name is None) == (pid is None):
        raise _invalid("a property set needs exactly one of PropertyName and PropertyId.")
    set_id = DISTINGUISHED_SETS[dist] if dist is not None else str(guid).lower()
    return ("named", set_id, f"name:{name}" if name is not None else f"id:{int(str(pid))}", str(ptype))


def same_property(uri: Any, ident: Identity) -> bool:
    """Whether a stored (already validated) ExtendedFieldURI names the property ``ident``."""
    return uri is not None and identity(uri.attrib) == ident


def fits(ptype: str, value: str) -> bool:
    """Whether ``value`` is a valid text form of one value of the (scalar) type ``ptype``."""
    try:
        if ptype == "String":
            return True
        if ptype == "Boolean":
            return value in ("true", "false", "1", "0")
        if ptype in INT_RANGES:
            bits = INT_RANGES[ptype]
            return -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)
        if ptype in ("Double", "Float", "ApplicationTime"):
            float(value)
            return True
        if ptype == "SystemTime":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return True
        if ptype == "CLSID":
            return bool(GUID.match(value))
        if ptype == "Binary":
            base64.b64decode(value, validate=True)
            return True
    except (ValueError, binascii.Error):
        return False
    return False


def check_property(ep: Any) -> Identity:
    """A t:ExtendedProperty sent in CreateItem / UpdateItem: its URI, and a Value or Values fitting its type."""
    children = [local(c) for c in ep]
    if not children or children[0] != "ExtendedFieldURI" or len(children) != 2 or children[1] not in ("Value",
                                                                                                          "Values"):
        raise schema_error("ExtendedProperty takes an ExtendedFieldURI and then one Value or Values element.")
    ident = identity(ep[0].attrib)
    ptype = ident[-1]
    if ptype in UNUSABLE_TYPES:
        raise _invalid(f"properties of type {ptype} cannot be set.")
    array = ptype.endswith("Array")
    if (children[1] == "Values") != array:
        raise EwsError("ErrorInvalidExtendedPropertyValue",
                       f"A property of type {ptype} takes {'Values' if array else 'one Value'}.")
    holders = list(ep[1].iter(tq("Value"))) if array else [ep[1]]
    base = ptype.removesuffix("Array")
    if (array and not holders) or not all(fits(base, v.text or "") for v in holders):
        raise EwsError("ErrorInvalidExtendedPropertyValue", f"The value does not fit the property type {ptype}.")
    for holder in holders:  # kept typed, answered as Exchange answers it
        holder.text = canonical(base, holder.text or "")
    return ident


def canonical(ptype: str, value: str) -> str:
    """A (fitting) value as Exchange answers it: booleans as true/false, integers plainly, times in UTC."""
    if ptype == "Boolean":
        return "true" if value in ("true", "1") else "false"
    if ptype in INT_RANGES:
        return str(int(value))
    if ptype == "SystemTime":
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def check_constant(ident: Identity, value: str) -> None:
    """A restriction comparing the property ``ident`` with a constant of another type is refused."""
    ptype = ident[-1]
    if ptype in UNUSABLE_TYPES:
        raise _invalid(f"properties of type {ptype} cannot be used in restrictions.")
    if not fits(ptype.removesuffix("Array"), value):
        raise EwsError("ErrorInvalidValueForProperty", f"The constant {value!r} does not fit the type {ptype}.")
