"""`threadline demo`: the whole loop on embedded defaults (SQLite and the sandbox): run.py drives it, world.py is
the demo team and its mail, sequence.py the sequence part. May use the daemon's web app, reports and wiring."""
