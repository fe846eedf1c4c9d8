"""A contact's photo: `GET photo` (its profilePhoto), `GET photo/$value`, `PUT photo/$value`.

Graph takes the image as the request body with an image content type, within its 4 MB per request, and answers
404 for a contact without a photo. The emulator keeps the bytes as sent; it decodes no image, so the photo's
height and width are null.
"""

from __future__ import annotations

from . import contacts
from .call import MAX_JSON_BODY, Answer, Call
from .errors import GraphError, bad_request
from .routing import Route

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp"})


def _photo(call: Call, p: dict[str, str]) -> tuple[str, bytes]:
    entry = contacts.contact_of(call, p)
    if entry.photo is None:
        raise GraphError(404, "ErrorItemNotFound", "The photo wasn't found.")
    return entry.photo


def get(call: Call, p: dict[str, str]) -> Answer:
    _photo(call, p)
    return Answer(200, {"id": "default", "height": None, "width": None}, entity_type="profilePhoto")


def raw(call: Call, p: dict[str, str]) -> Answer:
    content_type, data = _photo(call, p)
    return Answer(200, data, content_type=content_type)


def put(call: Call, p: dict[str, str]) -> Answer:
    entry = contacts.contact_of(call, p)
    if call.content_type() not in IMAGE_TYPES:
        raise bad_request(f"A photo is sent as an image ({', '.join(sorted(IMAGE_TYPES))}), not "
                          f"'{call.content_type() or 'nothing'}'.", "ErrorInvalidRequest")
    if not call.body:
        raise bad_request("The photo is empty.", "ErrorInvalidRequest")
    if len(call.body) > MAX_JSON_BODY:
        raise GraphError(413, "RequestEntityTooLarge", f"The request body of {len(call.body)} bytes exceeds the "
                         f"maximum of {MAX_JSON_BODY} bytes.")
    entry.photo = (call.content_type(), bytes(call.body))
    entry.touch(call.emulator.clock.iso())
    return Answer(200)


ROUTES = [Route(m, f"{prefix}/{tail}", h, "Contacts")
          for prefix in ("contacts/{contact}", "contactFolders/{cfolder}/contacts/{contact}")
          for m, tail, h in (("GET", "photo", get), ("GET", "photo/$value", raw), ("PUT", "photo/$value", put))]
