"""Inbox rules into Exchange, once each even across a crash, and never taking a rule that was there before.

Rules cannot carry a property to mark them as mailferry's, unlike contacts or events. So the
ids of the target's rules are written ahead (Redis, per rule item, kept from the first attempt)
before any rule of a batch is created. A retry of an in-flight rule then looks only among the
rules that appeared since, for one with its name, conditions and actions: a rule the user
already had, however alike, is never taken for ours (undo would delete it).

The id of a rule just created is found the same way, among the rules that were not there
before, not by its name alone (exchangelib's ``create_rule`` takes the last rule with that
name, which may be the user's).

A rule Exchange refuses (a validation error, the rules quota...) is reported failed with
Exchange's words, and the batch's other rules are still created: waiting would not change the
answer. Only the faults that pass (a busy or unavailable server) have the batch tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from exchangelib import Account
from exchangelib.errors import (
    ErrorBatchProcessingStopped,
    ErrorConnectionFailed,
    ErrorConnectionFailedTransientError,
    ErrorExceededConnectionCount,
    ErrorInternalServerError,
    ErrorInternalServerTransientError,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    ErrorTooManyObjectsOpened,
    ResponseMessageError,
)
from exchangelib.properties import Rule
from exchangelib.services import CreateInboxRule, GetInboxRules
from exchangelib.util import TNS

from shared.adapters.ports import RuleSnapshots
from shared.errors import ItemRejected
from shared.formats.settings import FOLDER_ACTIONS, RuleModel, rule_from_ews, rule_to_ews


class _CreateRule(CreateInboxRule):  # type: ignore[misc]
    """exchangelib (5.6) wraps a rule's date and size range in a ``DateRange``/``SizeRange`` element the
    EWS schema does not have (RulePredicateDateRangeType holds StartDateTime and EndDateTime itself), so
    Exchange would refuse the rule; the request goes out in the schema's shape."""

    def get_payload(self, rule: Rule, remove_outlook_rule_blob: bool = True) -> Any:
        payload = super().get_payload(rule=rule, remove_outlook_rule_blob=remove_outlook_rule_blob)
        for wrapper in list(payload.iter(f"{{{TNS}}}DateRange", f"{{{TNS}}}SizeRange")):
            holder = wrapper.getparent()
            holder.remove(wrapper)
            holder.extend(list(wrapper))
        return payload


# Answers that may change if asked again later: the batch is retried, not the rule refused.
PASSING_FAULTS = (ErrorServerBusy, ErrorTimeoutExpired, ErrorInternalServerTransientError, ErrorInternalServerError,
                  ErrorMailboxStoreUnavailable, ErrorMailboxMoveInProgress, ErrorConnectionFailed,
                  ErrorConnectionFailedTransientError, ErrorTooManyObjectsOpened, ErrorExceededConnectionCount,
                  ErrorBatchProcessingStopped)


def create_rule(account: Account, rule: Rule) -> None:
    """Create ``rule`` in the account's inbox rules (without Outlook's rule blob, as EWS requires)."""
    _CreateRule(account=account).get(rule=rule, remove_outlook_rule_blob=True)


def create_or_refuse(account: Account, rule: Rule) -> None:
    """:func:`create_rule`; a refusal that waiting will not cure is :class:`ItemRejected` with Exchange's words."""
    try:
        create_rule(account, rule)
    except PASSING_FAULTS:
        raise
    except ResponseMessageError as exc:
        raise ItemRejected(f"Exchange refused the rule: {type(exc).__name__}: {exc}"[:300]) from None


class RuleWriter:
    """Creates one batch's rules; ``folder_for(path)`` gives (and makes) the target folder of a move/copy."""

    def __init__(self, account: Account, ledger: RuleSnapshots, folder_for: Callable[[list[str]], Any]) -> None:
        self.account = account
        self.ledger = ledger
        self.folder_for = folder_for
        self._rules: list[Rule] | None = None  # the target's rules now, read once per batch
        self._claimed: set[str] = set()  # ids this batch created or took over

    def prepare(self, rule_keys: Collection[str]) -> None:
        """Before the batch's first rule: the target's rule ids are written ahead for each rule item
        (an item that already has them keeps the ones from its first attempt)."""
        if rule_keys:
            self.ledger.keep_rules_before(rule_keys, [str(r.id) for r in self._current()])

    def write(self, item_key: str, model: RuleModel, inflight: bool) -> str:
        """The id of the rule on the target: found (after a crash) or created now."""
        if inflight:
            before = self.ledger.rules_before(item_key)  # None: the crash came before anything was created
            if before is not None and (found := self._appeared(model, before)) is not None:
                return found
        present = {str(r.id) for r in self._current()}
        create_or_refuse(self.account, rule_to_ews(model, self.folder_for))
        self._rules = None
        new = [r for r in self._current() if str(r.id) not in present and r.display_name == model.name]
        if len(new) != 1:
            raise ItemRejected(f"the rule {model.name!r} was created but could not be told apart on the target "
                               f"({len(new)} new rules of that name)")
        self._claimed.add(str(new[0].id))
        return str(new[0].id)

    def _current(self) -> list[Rule]:
        if self._rules is None:
            self._rules = list(GetInboxRules(account=self.account).call())
        return self._rules

    def _appeared(self, model: RuleModel, before: Collection[str]) -> str | None:
        """A rule that appeared since the first attempt and that no other item took, with this rule's
        name, conditions, exceptions and actions."""
        paths = {self.folder_for(p).id: p for p in (model.actions.get(a) for a in FOLDER_ACTIONS) if p}
        for rule in (r for r in self._current() if str(r.id) not in before and str(r.id) not in self._claimed):
            theirs = rule_from_ews(rule, lambda fid: paths.get(fid) if fid else None)
            if ((theirs.name, theirs.conditions, theirs.exceptions, theirs.actions)
                    == (model.name, model.conditions, model.exceptions, model.actions)):
                self._claimed.add(str(rule.id))
                return str(rule.id)
        return None
