"""Privacy: forgetting a person on request (forget.py) and keeping them forgotten (suppression.py)."""
