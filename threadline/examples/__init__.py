"""Example configuration shipped with the package (the demo reads it; config/ at the repo root links here)."""

from pathlib import Path

SEQUENCES = Path(__file__).with_name("sequences.yaml")
