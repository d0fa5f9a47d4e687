"""The application: how a person reaches Threadline (cli/, demo/), the daemon (runtime/), the HTTP surface (web/),
what people read (reports/), building the parts from settings (wiring/) and what IT watches (monitoring/).
May use every layer below; nothing imports it."""
