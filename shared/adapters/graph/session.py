"""Opening a Graph session for an account: settings, guarded HTTP, tokens, the shared budget, the stores."""

from __future__ import annotations

import functools
from typing import Any

from shared.adapters.graph.budget import Budget, budget_key
from shared.adapters.graph.client import GraphClient
from shared.adapters.graph.delta_store import DeltaStore, NoDeltaStore, RedisDeltaStore
from shared.adapters.graph.settings import GraphSettings, process_settings
from shared.adapters.graph.tokens import AppTokens, DelegatedTokens, TokenSource
from shared.adapters.graph.transport import http_client
from shared.adapters.ports import AdapterEnv, Secret
from shared.events import EndpointSpec


@functools.lru_cache(maxsize=4)
def shared_redis(url: str) -> Any:
    """One client per process for the budget and the delta checkpoints (None without a URL)."""
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def open_client(spec: EndpointSpec, secret: Secret, env: AdapterEnv,
                settings: GraphSettings | None = None) -> GraphClient:
    """A session on the account's mailbox: the operator's app for its tenant (``auth: app``), or the
    user's own sign-in (``auth: oauth2``, the sealed token bundle as the secret)."""
    settings = settings or process_settings()
    http = http_client(env.connect, verify=spec.tls_verify, max_connections=settings.concurrency + 2)
    try:
        tokens: TokenSource
        if spec.auth == "app":
            tokens = AppTokens(settings, settings.tenant_for(spec.login), http)
        else:
            tokens = DelegatedTokens(settings, secret(), http)
        budget = Budget(budget_key(tokens.client_id, spec.login), settings.concurrency, settings.requests,
                        settings.window, shared_redis(settings.redis_url))
    except BaseException:
        http.close()
        raise
    return GraphClient(http, settings.graph_url, spec.login, tokens, budget, settings.max_retry_after)


def delta_store(settings: GraphSettings | None = None) -> DeltaStore:
    client = shared_redis((settings or process_settings()).redis_url)
    return RedisDeltaStore(client) if client is not None else NoDeltaStore()
