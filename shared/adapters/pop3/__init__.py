"""POP3: the connection, the maildrop (UIDL, pipelined RETR) and the maildrop as a source with one folder."""
