"""The extended MAPI properties mailferry reads and writes on Exchange items, registered once.

exchangelib knows an extended property only once it is registered on the item class, for the
whole process. Every EWS module that reads or writes one imports this module, so the
registration happens before any EWS use, whichever side (source or target) runs first.
"""

from __future__ import annotations

from exchangelib import CalendarItem, Contact, DistributionList, Message, Task
from exchangelib.extended_properties import ExtendedProperty, Flag

# mailferry's property set; it names nothing else, so no other application's property can collide.
PROPERTY_SET = "6f3a1c52-9b0e-4d7a-8e21-5c4b7d90a1e3"
FIELD = "mailferry_key"


class DeliveryTime(ExtendedProperty):  # type: ignore[misc]
    """PR_MESSAGE_DELIVERY_TIME: what Outlook shows as "Received"."""

    property_tag = 0x0E06
    property_type = "SystemTime"


class SubmitTime(ExtendedProperty):  # type: ignore[misc]
    """PR_CLIENT_SUBMIT_TIME: the sent date."""

    property_tag = 0x0039
    property_type = "SystemTime"


class MessageFlags(ExtendedProperty):  # type: ignore[misc]
    """PR_MESSAGE_FLAGS: read and draft (unsent) state, settable only when the item is created."""

    property_tag = 0x0E07
    property_type = "Integer"


class MailferryKey(ExtendedProperty):  # type: ignore[misc]
    """``<pair id>:<item key>``, with ``#n`` for the n-th Exchange item made from one source item."""

    property_set_id = PROPERTY_SET
    property_name = "MailferryItemKey"
    property_type = "String"


# PR_LAST_VERB_EXECUTED: replied (102, 103) or forwarded (104), IMAP's \\Answered and $Forwarded; PR_ICON_INDEX:
# the replied or forwarded icon Outlook shows with it.
LastVerb = type("LastVerb", (ExtendedProperty,), {"property_tag": 0x1081, "property_type": "Integer"})
IconIndex = type("IconIndex", (ExtendedProperty,), {"property_tag": 0x1080, "property_type": "Integer"})

for _name, _cls in (("flag", Flag), ("delivery_time", DeliveryTime), ("submit_time", SubmitTime),
                    ("message_flags", MessageFlags), ("last_verb", LastVerb), ("icon_index", IconIndex)):
    if _name not in {f.name for f in Message.FIELDS}:
        Message.register(_name, _cls)

for _item_cls in (Contact, DistributionList, CalendarItem, Task):
    if FIELD not in {f.name for f in _item_cls.FIELDS}:
        _item_cls.register(FIELD, MailferryKey)
