"""Services import every adapter at start-up, in one thread (two lazy first imports once raced)."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return set(out.split())


def test_reading_the_registry_loads_no_protocol_library() -> None:
    loaded = _modules_after("import shared.adapters.registry")
    assert not {"exchangelib", "msal", "shared.adapters.ews.connection", "shared.adapters.graph.tokens"} & loaded


def test_load_adapters_imports_every_adapter_and_its_library() -> None:
    loaded = _modules_after("from shared.adapters.registry import load_adapters; load_adapters()")
    for name in ("exchangelib", "msal", "shared.adapters.ews.connection", "shared.adapters.graph.tokens",
                 "shared.adapters.imap.target", "shared.adapters.pop3.system", "shared.adapters.pst.system"):
        assert name in loaded, name
