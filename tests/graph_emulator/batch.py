"""JSON batching (`POST /v1.0/$batch`): at most 20 requests, `dependsOn` ordering, one answer per request with
its own status and headers. Unordered requests run up to four at a time, each holding a concurrency slot of
its mailbox, so an inner request meets the mailbox's limit (429 + Retry-After) like a lone request would."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import dispatch
from .call import Answer
from .errors import GraphError, bad_request

if TYPE_CHECKING:
    from .emulator import GraphEmulator

MAX_REQUESTS = 20
AT_A_TIME = 4
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def _check(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise bad_request("Invalid batch payload format: a 'requests' array is required.", "BadRequest")
    reqs: list[dict[str, Any]] = body["requests"]
    if not reqs:
        raise bad_request("Invalid batch payload format: the 'requests' array is empty.", "BadRequest")
    if len(reqs) > MAX_REQUESTS:
        raise bad_request(f"The number of batch requests exceeds the limit of {MAX_REQUESTS}.", "BadRequest")
    ids: set[str] = set()
    for r in reqs:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not r["id"]:
            raise bad_request("Every batch request needs a string 'id'.", "BadRequest")
        if r["id"] in ids:
            raise bad_request(f"Batch request id '{r['id']}' is used more than once.", "BadRequest")
        ids.add(r["id"])
        if str(r.get("method", "")).upper() not in METHODS:
            raise bad_request(f"Invalid method '{r.get('method')}' in batch request '{r['id']}'.", "BadRequest")
        url = r.get("url")
        if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
            raise bad_request(f"Batch request '{r['id']}' needs a relative 'url' starting with '/'.", "BadRequest")
        if urlsplit(url).path.rstrip("/").endswith("$batch"):
            raise bad_request("A batch cannot contain another batch.", "BadRequest")
        headers = r.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise bad_request(f"The 'headers' of batch request '{r['id']}' must be an object of strings.")
        if "body" in r and not any(k.lower() == "content-type" for k in headers):
            raise bad_request(f"Write request id : {r['id']} does not contain Content-Type header or body.")
        deps = r.get("dependsOn", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise bad_request(f"'dependsOn' of batch request '{r['id']}' must be an array of ids.")
    for r in reqs:
        for d in r.get("dependsOn", []):
            if d not in ids or d == r["id"]:
                raise bad_request(f"Batch request '{r['id']}' depends on an unknown request id '{d}'.")
    return reqs


def _order(reqs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Waves: each wave holds requests whose dependencies are all in earlier waves (cycles are refused)."""
    done: set[str] = set()
    waves, left = [], list(reqs)
    while left:
        ready = [r for r in left if all(d in done for d in r.get("dependsOn", []))]
        if not ready:
            raise bad_request("The dependsOn of the batch requests form a cycle.")
        waves.append(ready)
        done.update(r["id"] for r in ready)
        left = [r for r in left if r not in ready]
    return waves


def _inner(r: dict[str, Any], outer_headers: dict[str, str]) -> tuple[str, str, dict[str, str], dict[str, str], bytes]:
    parts = urlsplit(r["url"])
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    headers = {k: v for k, v in outer_headers.items() if k.lower() in ("authorization", "client-request-id")}
    headers.update(r.get("headers") or {})
    body = r.get("body")
    if body is None:
        raw = b""
    elif isinstance(body, str) and not any(v.lower().startswith("application/json")
                                           for k, v in headers.items() if k.lower() == "content-type"):
        raw = base64.b64decode(body)
    else:
        raw = json.dumps(body).encode()
    return str(r["method"]).upper(), "/v1.0" + parts.path, query, headers, raw


def _response(req_id: str, answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"id": req_id, "status": answer.status}
    headers = dict(answer.headers)
    if answer.body is not None:
        headers["Content-Type"] = answer.content_type
        out["body"] = (base64.b64encode(bytes(answer.body)).decode() if isinstance(answer.body, bytes | bytearray)
                       else answer.body)
    out["headers"] = headers
    return out


def serve(emu: GraphEmulator, method: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Answer:
    if method != "POST":
        raise GraphError(405, "BadRequest", "Only POST is allowed on $batch.")
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "").split(";")[0].strip()
    if ctype.lower() != "application/json":
        raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
                          "is of valid JSON format.")
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
                          "is of valid JSON format.") from e
    reqs = _check(payload)
    results: dict[str, Answer] = {}
    for wave in _order(reqs):
        runnable = []
        for r in wave:
            failed = [d for d in r.get("dependsOn", []) if results[d].status >= 400]
            if failed:
                results[r["id"]] = dispatch.error_answer(emu, GraphError(424, "FailedDependency", "The request "
                                                         f"depends on a failed request ({', '.join(failed)})."), {})
            else:
                runnable.append(r)
        for start in range(0, len(runnable), AT_A_TIME):
            _run_group(emu, runnable[start:start + AT_A_TIME], headers, results)
    return Answer(200, {"responses": [_response(r["id"], results[r["id"]]) for r in reqs]},
                  content_type="application/json")


def _run_group(emu: GraphEmulator, group: list[dict[str, Any]], outer: dict[str, str],
               results: dict[str, Answer]) -> None:
    """Requests of one group run at the same time: all hold their slots before any of them runs."""
    admitted: list[tuple[dict[str, Any], dispatch.Prepared]] = []
    for r in group:
        m, path, query, headers, raw = _inner(r, outer)
        try:
            prepared = dispatch.prepare(emu, m, path, query, headers, raw)
            emu.throttle.enter(prepared.key, len(raw) if m in ("POST", "PUT", "PATCH") else 0)
        except GraphError as e:
            results[r["id"]] = dispatch.error_answer(emu, e, headers)
            continue
        admitted.append((r, prepared))
    try:
        for r, prepared in admitted:
            try:
                answer = dispatch.execute(emu, prepared)
                emu.record(answer)
            except GraphError as e:
                answer = dispatch.error_answer(emu, e, dict(prepared.call.headers))
            results[r["id"]] = answer
    finally:
        for _, prepared in admitted:
            emu.throttle.leave(prepared.key)
