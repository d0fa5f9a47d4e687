"""Building the parts from settings: build.py is the only place that knows every concrete adapter and assembles
the engine, the rules and the sequence runner; secret_keys.py opens the encrypted token store.
Uses config, rules, sync and adapters; no other room of the application."""
