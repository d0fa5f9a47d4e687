"""The engine: engine.py runs one sync cycle. mail/ understands one message, mailboxes/ pulls mailboxes, contacts/
keeps the CRM mirror, events/ records what was observed, outbox/ holds intended effects and performs them
exactly once, work/ shares sources between replicas, store/ is the database. May use the adapters' protocols,
errors and records only, never a concrete adapter, and never the rule layer (its steps are handed in)."""
