"""`threadline run`: the long-running daemon (pull on push, poll as the fallback, stop cleanly on SIGTERM) and the
drainer threads for sends and CRM writes. May use web/ (it serves it), wiring/ and monitoring/."""
