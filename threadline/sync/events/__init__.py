"""Events: what the engine observed, as typed records (records.py; the rule layer's input), and the event log that
stores each once and reads them per contact (log.py)."""
