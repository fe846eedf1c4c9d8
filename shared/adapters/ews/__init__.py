"""Exchange (EWS): the connection, mail and items as a source, mail and items as a target, undo."""
