"""An account kept in memory, with faults on demand: the adapter the service cores' unit tests and the
contract suite's memory rig run against. It is registered only by tests (``registry.registered``)."""
