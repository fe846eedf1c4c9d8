"""How EWS folder paths are named: components joined by a control character, because Exchange folder
names may contain "/" or "." (the listing's delimiter and the target's folder keys)."""

from __future__ import annotations

KEY_SEP = "\x1f"
