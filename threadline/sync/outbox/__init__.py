"""The outbox: intended external effects recorded before they are performed (rows.py, keys.py), performed exactly
once by crm_writes.py (CRM writes) and sends.py (sequence email, with send_records.py). The sequences' stop
rules reach sends.py through its SendCheck hook, so this package never imports the rule layer."""
