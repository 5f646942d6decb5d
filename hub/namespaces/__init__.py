"""Socket.IO namespaces: thin adapters that authenticate, validate and call domain modules."""
