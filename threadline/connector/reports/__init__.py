"""What people read in the terminal or the status page: plan, explain and audit (rule_plans.py), the sequence
report and its data, manual sequence stop/resume, and the terminal rendering. May use wiring/ and monitoring/."""
