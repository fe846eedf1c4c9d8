"""In-memory stand-ins for the broker and the Redis stores, behind the same protocols as the real ones,
so the services' cores run in one process in unit tests (arroyo's pattern). Not used in production."""
