"""What IT watches: readiness (/readyz and `threadline health`), what to do about refused credentials, the
`threadline status` report, Prometheus metrics and structured logs. Reads the store; no other room of the
application."""
