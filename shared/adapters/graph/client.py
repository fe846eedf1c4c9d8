"""Requests to one mailbox through Graph: token, budget, Retry-After, errors by kind, paging, $batch.

Every request holds a slot of the mailbox's shared budget (:mod:`.budget`) while it is in flight. A 429,
503 or 504 is waited out for the ``Retry-After`` it carries (Graph's own hint, honoured as given up to
``max_retry_after``) and sent again; inner answers of a ``$batch`` are retried the same way, only the
ones that were refused. A 401 renews the token once. What is left after that is raised as our kinds:
``Throttled``/``Transient`` (the batch is retried later), ``AuthenticationFailed`` (the account cannot be
read as given), ``NotFound`` (the item is gone), ``ServerRefused`` (Graph refused the request).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from shared.adapters.graph.budget import Budget
from shared.adapters.graph.tokens import TokenSource
from shared.adapters.graph.transport import transport_error
from shared.errors import AuthenticationFailed, ServerRefused, Throttled, Transient

log = logging.getLogger(__name__)

BATCH_MAX = 20  # Graph's limit of requests in one $batch
RETRY_STATUS = frozenset({429, 503, 504})
ATTEMPTS = 8
IMMUTABLE_IDS = 'IdType="ImmutableId"'


class NotFound(Exception):
    """Graph answered 404 for an item (deleted or moved meanwhile)."""


class DeltaGone(Exception):
    """A delta link is no longer known to Graph (410): start a new round."""


class BadRequest(ServerRefused):
    """Graph answered 400: the request's content is what it refuses (a folder name it cannot take...), so
    the caller may fail that one item instead of its whole batch."""


@dataclass(frozen=True)
class Answer:
    """One inner answer of a $batch."""

    status: int
    headers: dict[str, str]
    body: Any


def retry_after(headers: Any, attempt: int, cap: float) -> float:
    raw = str(headers.get("Retry-After") or headers.get("retry-after") or "").strip()
    try:
        wait = float(raw)
    except ValueError:
        wait = min(2.0 ** attempt, 30.0)
    return max(0.0, min(wait, cap))


def _error_code(body: Any) -> tuple[str, str]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return str(err.get("code") or ""), str(err.get("message") or "")[:300]
    return "", ""


class GraphClient:
    """One mailbox's Graph session (thread-safe: httpx's client is, the budget is shared)."""

    def __init__(self, http: httpx.Client, graph_url: str, mailbox: str, tokens: TokenSource, budget: Budget,
                 max_retry_after: float = 300.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.http, self.graph_url, self.mailbox, self.tokens = http, graph_url.rstrip("/"), mailbox, tokens
        self.budget, self.max_retry_after, self.sleep = budget, max_retry_after, sleep
        # A delegated token opens only its own mailbox, through /me; the app names the mailbox.
        self.user_path = "/me" if tokens.delegated else f"/users/{quote(mailbox, safe='@')}"
        self.base = self.graph_url + self.user_path
        self.retried_after: list[float] = []  # the Retry-After waits honoured (tests read them)

    # -- one request ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """A path below the mailbox ("/mailFolders/inbox"), or a full URL Graph gave (nextLink, deltaLink)."""
        if path.startswith("https://") or path.startswith("http://"):
            if urlsplit(path).netloc != urlsplit(self.graph_url).netloc:
                raise ServerRefused("Graph sent a link to another server; it is not followed")
            return path
        return self.base + path

    def _send(self, method: str, url: str, *, params: dict[str, str] | None, body: Any, headers: dict[str, str],
              stream: bool, slots: int, content: bytes | None = None) -> httpx.Response:
        renewed = False
        for attempt in range(ATTEMPTS):
            hdrs = {"Authorization": f"Bearer {self.tokens.token(force=renewed and attempt > 0)}",
                    "Prefer": IMMUTABLE_IDS, **headers}
            try:
                with self.budget.slots(slots) if slots else self._counted():
                    req = (self.http.build_request(method, url, params=params, json=body, headers=hdrs)
                           if content is None else
                           self.http.build_request(method, url, params=params, content=content, headers=hdrs))
                    resp = self.http.send(req, stream=stream)
                    if stream and resp.status_code < 300:
                        return resp  # the caller reads it, still holding its slot (see stream)
                    resp.read()
            except httpx.TransportError as exc:
                failure = transport_error(exc, urlsplit(url).hostname or "Microsoft Graph")
                if not isinstance(failure, Transient) or attempt == ATTEMPTS - 1:
                    raise failure from None
                self._pause(attempt, None)
                continue
            if resp.status_code in RETRY_STATUS:
                self._pause(attempt, resp.headers)
                continue
            if resp.status_code == 401 and not renewed:
                renewed = True  # the token expired early (or was revoked): renew once and try again
                continue
            return resp
        raise Throttled(f"Microsoft Graph kept answering busy for {self.mailbox}; tried {ATTEMPTS} times")

    @contextmanager
    def _counted(self) -> Iterator[None]:
        """A request sent under a slot the caller already holds: it still counts in the window."""
        self.budget.take_requests(1)
        yield

    def _pause(self, attempt: int, headers: Any) -> None:
        wait = retry_after(headers or {}, attempt, self.max_retry_after)
        if headers is not None:
            self.retried_after.append(wait)
        self.sleep(wait)

    def request(self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> Any:
        """The JSON answer of a request, or our error kind."""
        resp = self._send(method, self.url(path), params=params, body=body, headers=headers or {}, stream=False,
                          slots=1)
        return self._checked(resp)

    def _checked(self, resp: httpx.Response) -> Any:
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = None
        if resp.status_code < 300:
            return body
        code, message = _error_code(body)
        raise self.error(resp.status_code, code, message)

    def error(self, status: int, code: str, message: str) -> Exception:
        if status == 404 and code == "ErrorInvalidUser":
            return AuthenticationFailed(f"Microsoft 365 has no mailbox {self.mailbox}")
        if status == 404:
            return NotFound(code)
        if status == 410:
            return DeltaGone(code)
        if status == 401:
            return AuthenticationFailed(f"Microsoft Graph refused the token for {self.mailbox}: {code}")
        if status == 403:
            return AuthenticationFailed(f"Microsoft Graph refused access to {self.mailbox} ({code}: the app or "
                                        "the signed-in user lacks a permission, or an administrator has not consented)")
        if status in RETRY_STATUS:
            return Throttled(f"Microsoft Graph is busy for {self.mailbox} ({code or status})")
        if status >= 500:
            return Transient(f"Microsoft Graph answered {status} {code}")
        refused = BadRequest if status == 400 else ServerRefused
        return refused(f"Microsoft Graph refused a request ({status} {code}: {message})")

    def put_bytes(self, path: str, content: bytes, content_type: str) -> Any:
        """A PUT of raw bytes (a contact's photo), answered like :meth:`request`."""
        resp = self._send("PUT", self.url(path), params=None, body=None, headers={"Content-Type": content_type},
                          stream=False, slots=1, content=content)
        return self._checked(resp)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def pages(self, path: str, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink``."""
        url: str | None = path
        first = True
        while url:
            page = self.request("GET", url, params=params if first else None, headers=headers)
            first = False
            yield from page.get("value") or []
            url = page.get("@odata.nextLink")

    def delta(self, link: str, params: dict[str, str] | None = None,
              page_size: int = 1000) -> tuple[list[dict[str, Any]], str]:
        """One delta round from ``link`` (a path for a first round, or the last round's deltaLink): the
        changes and the next round's deltaLink. DeltaGone when Graph no longer knows the link."""
        changes: list[dict[str, Any]] = []
        url: str | None = link
        first = True
        while url:
            page = self.request("GET", url, params=params if first else None,
                                headers={"Prefer": f"{IMMUTABLE_IDS}, odata.maxpagesize={page_size}"})
            first = False
            changes += page.get("value") or []
            if page.get("@odata.deltaLink"):
                return changes, str(page["@odata.deltaLink"])
            url = page.get("@odata.nextLink")
        raise ServerRefused("Microsoft Graph ended a delta round without a deltaLink")

    @contextmanager
    def stream(self, path: str) -> Iterator[httpx.Response]:
        """A streamed GET (a message's MIME): the answer, read by the caller in pieces. Its slot is held
        until the body is read: Graph counts the request in flight until then."""
        with self.budget.slots(1):
            resp = self._send("GET", self.url(path), params=None, body=None, headers={}, stream=True, slots=0)
            try:
                if resp.status_code >= 300:
                    self._checked(resp)
                yield resp
            finally:
                resp.close()

    # -- $batch --------------------------------------------------------------------------------
    def batch(self, requests: Sequence[tuple[str, str]]) -> list[Answer]:
        """GET each path (below the mailbox) in $batch requests of at most 20; an answer per path, in order.
        Inner 429/503/504 answers are sent again after their Retry-After; other errors are returned."""
        out: list[Answer | None] = [None] * len(requests)
        for start in range(0, len(requests), BATCH_MAX):
            part = list(range(start, min(start + BATCH_MAX, len(requests))))
            renewed = False
            for attempt in range(ATTEMPTS):
                expired = [i for i in part if out[i] is not None and out[i].status == 401]  # type: ignore[union-attr]
                if expired and not renewed:
                    renewed = True  # the token expired during the batch: renew it once and ask again
                    self.tokens.token(force=True)
                    for i in expired:
                        out[i] = None
                pending = [i for i in part if out[i] is None or out[i].status in RETRY_STATUS]  # type: ignore[union-attr]
                if not pending:
                    break
                busy = [i for i in pending if out[i] is not None]
                if busy:
                    waits = [retry_after(out[i].headers, attempt, self.max_retry_after)  # type: ignore[union-attr]
                             for i in busy]
                    self.retried_after.append(max(waits))
                    self.sleep(max(waits))
                answers = self._batch_once([(str(i), requests[i][0], requests[i][1]) for i in pending])
                for i in pending:
                    out[i] = answers[str(i)]
            else:
                if any(out[i] is None or out[i].status in RETRY_STATUS for i in part):  # type: ignore[union-attr]
                    raise Throttled(f"Microsoft Graph kept throttling the batch for {self.mailbox}")
        return [a for a in out if a is not None]

    def _batch_once(self, requests: Sequence[tuple[str, str, str]]) -> dict[str, Answer]:
        body = {"requests": [{"id": rid, "method": method, "url": self.user_path + path,
                              "headers": {"Prefer": IMMUTABLE_IDS}}  # inner requests take no outer header
                             for rid, method, path in requests]}
        # Graph runs a batch's requests several at a time, each holding a slot: the batch holds as many.
        self.budget.take_requests(len(requests) - 1)  # the batch's own request counts one of them
        resp = self._send("POST", self.graph_url + "/$batch", params=None, body=body,
                          headers={"Content-Type": "application/json"}, stream=False, slots=min(4, len(requests)))
        data = self._checked(resp)
        answers: dict[str, Answer] = {}
        for r in (data or {}).get("responses") or []:
            answers[str(r.get("id"))] = Answer(int(r.get("status") or 500), dict(r.get("headers") or {}),
                                               r.get("body"))
        for rid, _m, _p in requests:
            answers.setdefault(rid, Answer(503, {}, None))  # missing from the answer: asked again
        return answers

    def answer_json(self, answer: Answer) -> Any:
        """An inner answer's JSON body, or our error kind."""
        body = answer.body
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                pass
        if answer.status < 300:
            return body
        code, message = _error_code(body)
        raise self.error(answer.status, code, message)

    def close(self) -> None:
        self.http.close()
