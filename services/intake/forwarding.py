"""Requests that came through a proxy: the one place that says which headers mark them and whose to believe.

Two questions are asked of a request, and they differ on purpose:

- **Who is the client?** (the address login checks are rate-limited by). Answered by uvicorn's proxy-headers
  middleware, configured here (:func:`uvicorn_options`): ``X-Forwarded-For`` (:data:`ADDRESS_HEADER`) is
  believed only from ``MAILFERRY_TRUSTED_PROXIES``, because a client that could name its own address would
  escape the limit. From anyone else the connection's peer is the client.
- **Did a proxy stand between?** (``/metrics`` is the monitoring's, scraped from the pod, not the public's).
  Answered by :func:`came_through_proxy`: any header a proxy adds (:data:`FORWARDED_HEADERS`), whoever sent it.
  Trust does not matter here: the answer only ever refuses, so a client that adds such a header refuses only
  itself, and the ingress always adds one, which a user cannot take off. The peer cannot answer it either:
  Prometheus scrapes from the same pod network the ingress controller runs in, the very network that is
  trusted for the first question.

So the second set is wider than the first (it holds the first's header), and neither is kept anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The header whose addresses uvicorn takes the client's from (from a trusted proxy only; the last untrusted one).
ADDRESS_HEADER = "x-forwarded-for"
#: Headers a proxy adds to what it forwards (ingress-nginx adds the first and the last); a request carrying
#: one did not come straight to the pod.
FORWARDED_HEADERS = frozenset({ADDRESS_HEADER, "forwarded", "x-real-ip"})


def came_through_proxy(header_names: Iterable[str]) -> bool:
    """Whether a request with these headers was forwarded by a proxy (any proxy: see the module's doc)."""
    return any(name.lower() in FORWARDED_HEADERS for name in header_names)


def uvicorn_options(trusted_proxies: Iterable[str]) -> dict[str, Any]:
    """uvicorn's settings for the first question: believe :data:`ADDRESS_HEADER` only from these proxies (none:
    the peer is always the client)."""
    trusted = list(trusted_proxies)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}
