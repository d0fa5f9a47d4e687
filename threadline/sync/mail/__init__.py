"""Understanding one message, pure (no I/O): parsing and headers, classification (reply, auto-reply, bounce, bulk),
matching to contacts, reply text without quoted history or signature, HTML to text, out-of-office return dates
and delivery reports. Imports nothing of the engine."""
