"""Contacts and contact folders. Graph v1.0 has no contact groups (distribution lists); neither has the model.

Left out because the emulator does not do them: open extensions, multi-value extended properties. A contact's
photo (profilePhoto) is stored and given back as sent; its height and width stay null (no image is decoded).
"""

from __future__ import annotations

from .declare import DATE_TIME, INT32, STRING, entity, nav, prop

TYPES = [
    entity("contactFolder", "entity",
           prop("displayName", STRING),
           prop("parentFolderId", STRING, read_only=True),
           nav("childFolders", "contactFolder"),
           nav("contacts", "contact")),
    entity("contact", "outlookItem",
           prop("assistantName", STRING),
           prop("birthday", DATE_TIME),
           prop("businessAddress", "physicalAddress"),
           prop("businessHomePage", STRING),
           prop("businessPhones", STRING, many=True),
           prop("children", STRING, many=True),
           prop("companyName", STRING),
           prop("department", STRING),
           prop("displayName", STRING),
           prop("emailAddresses", "emailAddress", many=True),
           prop("fileAs", STRING),
           prop("generation", STRING),
           prop("givenName", STRING),
           prop("homeAddress", "physicalAddress"),
           prop("homePhones", STRING, many=True),
           prop("imAddresses", STRING, many=True),
           prop("initials", STRING),
           prop("jobTitle", STRING),
           prop("manager", STRING),
           prop("middleName", STRING),
           prop("mobilePhone", STRING),
           prop("nickName", STRING),
           prop("officeLocation", STRING),
           prop("otherAddress", "physicalAddress"),
           prop("parentFolderId", STRING, read_only=True),
           prop("personalNotes", STRING),
           prop("profession", STRING),
           prop("spouseName", STRING),
           prop("surname", STRING),
           prop("title", STRING),
           prop("yomiCompanyName", STRING),
           prop("yomiGivenName", STRING),
           prop("yomiSurname", STRING),
           nav("singleValueExtendedProperties", "singleValueLegacyExtendedProperty"),
           nav("photo", "profilePhoto", many=False)),
    entity("profilePhoto", "entity",
           prop("height", INT32, read_only=True),
           prop("width", INT32, read_only=True)),
]
