"""The login check of a Microsoft 365 account: a token, then a GET of the mailbox's Inbox."""

from __future__ import annotations

from shared.adapters.graph.client import NotFound
from shared.adapters.graph.session import open_client
from shared.adapters.graph.settings import GraphSettings
from shared.adapters.ports import AdapterEnv
from shared.errors import AuthenticationFailed, ServerRefused, ServerUnreachable, Transient
from shared.events import EndpointSpec


def check_login(spec: EndpointSpec, password: str, env: AdapterEnv, settings: GraphSettings | None = None) -> None:
    """Raise the ConnectionCheckFailed kind that says why the mailbox cannot be read as given."""
    client = open_client(spec, lambda: password, env, settings)
    try:
        client.tokens.token()
        client.get("/mailFolders/inbox", {"$select": "id"})
    except NotFound:
        raise AuthenticationFailed(f"{spec.login} has no Exchange Online mailbox") from None
    except ServerRefused as exc:
        raise AuthenticationFailed(str(exc)) from None
    except Transient as exc:  # busy or unreachable after the retries
        raise ServerUnreachable(f"Microsoft 365 could not be reached for {spec.login}: {exc}") from None
    finally:
        client.close()
