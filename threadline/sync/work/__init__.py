"""Sharing work between replicas: leases on sources (which replica pulls which mailbox or CRM) and the per-source
cursors and health that `threadline status` reads."""
