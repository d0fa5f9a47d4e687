"""The `threadline` command: main.py holds the typer app and the small commands; auth, health and secrets have their
own modules. May use everything else in the application (the demo, the daemon, reports, wiring, monitoring)."""
