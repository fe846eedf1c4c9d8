"""Outlook PST/OST files: the reader (pypff), the MAPI builders, and the file as a source."""
