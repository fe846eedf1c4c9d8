"""IMAP: the connection, the source side (listing, FETCH), the target side (APPEND, CREATE) and undo."""
