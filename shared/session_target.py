"""How many sessions a migration uses on one server, chosen from what the server sustains. Pure code.

Start with a few; after each round (a batch of tasks) compare the migration's messages per second
with the round before: while it rises by at least 10 % the sessions double, up to the cap (the
operator's per-host and per-account caps and the worker's own limit); when it falls by more than
10 % one session is given back and the number is held; a throttling answer halves it at once. A
held number is probed upwards again after a few rounds, as the server's load changes.

A rule may be told to judge no round until it has seen more than ``judged_after`` messages (the loader's write
lanes: a migration that fits in one task keeps one session). That count is the rule's own memory, kept with
it: a worker holds one rule per migration, in its own memory only, so a restarted worker starts the migration's
rule again (its sessions from the start, its count from nought), and two workers sharing a migration each count
what they themselves saw.
"""

from __future__ import annotations

from dataclasses import dataclass

RISE = 1.10
FALL = 0.90
HOLD_ROUNDS = 8


@dataclass
class SessionTarget:
    cap: int
    sessions: int = 4
    last_rate: float = 0.0
    held: int = 0  # rounds left before growing is tried again
    judged_after: int = 0  # rounds are judged only once more messages than this were seen (see the module's doc)
    seen: int = 0  # messages seen in every round so far

    def __post_init__(self) -> None:
        self.cap = max(1, self.cap)
        self.sessions = max(1, min(self.sessions, self.cap))

    def observe(self, messages: int, seconds: float, used: int) -> int:
        """One round: ``messages`` copied in ``seconds`` with ``used`` sessions at most. Returns the next target."""
        self.seen += max(0, messages)
        if self.seen <= self.judged_after or seconds <= 0 or messages <= 0:
            return self.sessions
        rate = messages / seconds
        if used < self.sessions:  # the round had too little work to use them all: it says nothing
            return self.sessions
        if self.last_rate and rate < self.last_rate * FALL:
            self.sessions = max(1, self.sessions - 1)
            self.held = HOLD_ROUNDS
        elif self.held > 0:
            self.held -= 1
        elif not self.last_rate or rate >= self.last_rate * RISE:
            self.sessions = min(self.cap, self.sessions * 2)
        else:
            self.held = HOLD_ROUNDS  # flat: this is what the server sustains
        self.last_rate = rate
        return self.sessions

    def throttled(self) -> int:
        self.sessions = max(1, self.sessions // 2)
        self.held = HOLD_ROUNDS
        self.last_rate = 0.0
        return self.sessions
