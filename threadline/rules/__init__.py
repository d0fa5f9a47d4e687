"""The rule layer: scoring/, assignment/ and sequences/ as pure decisions over events and contact state, each with
its store-backed part beside it; runner.py runs scoring and assignment; the shared rule language (conditions,
effects, contact facts, business hours) sits at this level. May use sync (the store, events, the outbox) and
the adapters' records; rules never call an adapter: their effects go to the outbox."""
