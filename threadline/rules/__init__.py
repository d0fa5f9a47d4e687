"""The rule layer: scoring, assignment (and later sequences) as pure decisions over events and contact state.

Rules never call an adapter: they return intended effects, which the engine records
in the outbox (with the audit log) and the executor performs exactly once.
"""
