"""Adapters: one package per system (imap, pop3, ews, pst, sieve), each holding its connection, its
source side, its target side and its undo side; the ports they implement (:mod:`.ports`) and the
registry that maps an account's type to its system (:mod:`.registry`). See docs/architecture.md.

Nothing is imported here, so importing one adapter's module never loads the others.
"""
