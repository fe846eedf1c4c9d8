"""ManageSieve (RFC 5804): the client, Sieve scripts as a source and as a target, and their undo."""
