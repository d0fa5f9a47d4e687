"""The HTTP surface: the app (health, readiness, metrics), admin routes and login, the status page, POST /events,
unsubscribe links, and provider push in push/. May use reports/ and monitoring/; never the daemon or the CLI."""
