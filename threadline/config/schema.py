"""The JSON Schema of threadline.yaml, generated from the models (config/threadline.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

from threadline.config.models import Settings

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "threadline.schema.json"


def schema_text() -> str:
    schema = Settings.model_json_schema()
    schema["title"] = "threadline.yaml"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema())
