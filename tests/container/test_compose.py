"""compose.yaml, its example config and the Dockerfile agree (no Docker engine here: structure, not `up`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from threadline.config.loading import load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRETS_DIR = "/run/secrets/"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def service_secrets(service: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def dockerfile_instruction(name: str) -> str:
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith(f"{name} ")]
    assert len(lines) == 1, lines
    return lines[0].removeprefix(f"{name} ")


def test_threadline_service_builds_restarts_stops_gracefully_and_waits_for_a_healthy_migrated_store(
        compose: dict[str, Any]) -> None:
    app = compose["services"]["threadline"]
    assert app["build"] == "." and app["image"]
    assert app["restart"] == "unless-stopped"
    assert app["stop_grace_period"] == "30s"
    assert app["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                 "migrate": {"condition": "service_completed_successfully"}}
    assert "./config/compose:/config:ro" in app["volumes"]
    assert app["healthcheck"]["test"] == ["CMD", "threadline", "health"]
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["image"] == app["image"]


def test_postgres_has_a_named_volume_and_a_pg_isready_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == SECRETS_DIR + "postgres_password"


def test_every_secret_file_variable_names_a_secret_the_service_mounts(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    assert all(set(secret) == {"file"} and secret["file"].startswith("./secrets/") for secret in declared.values())
    for name, service in compose["services"].items():
        assert service_secrets(service) <= set(declared), name
        for variable, value in service.get("environment", {}).items():
            if variable.endswith("_FILE"):
                assert value.removeprefix(SECRETS_DIR) in service_secrets(service), (name, variable)


def test_example_config_loads_with_the_services_environment_and_matches_image_and_ports(
        compose: dict[str, Any], tmp_path: Path) -> None:
    app = compose["services"]["threadline"]
    for secret in service_secrets(app):   # stand-ins for compose's /run/secrets/<name>
        (tmp_path / secret).write_text(f"value-of-{secret}\n")
    env = {k: v.replace(SECRETS_DIR, f"{tmp_path}/") for k, v in app["environment"].items()}
    settings = load_settings(ROOT / "config/compose/threadline.yaml", env=env)
    assert settings.store.url == "postgresql+psycopg://threadline:value-of-postgres_password@postgres:5432/threadline"
    assert settings.crm.token.get_secret_value() == "value-of-hubspot_token"
    assert str(settings.store.secret_key_file).removeprefix(SECRETS_DIR) in service_secrets(app)
    assert settings.server.host == "0.0.0.0"
    published = {int(mapping.rsplit(":", 1)[1]) for mapping in app["ports"]}
    assert published == {settings.server.port} == {int(dockerfile_instruction("EXPOSE"))}
    assert env["THREADLINE_CONFIG"] == "/config/threadline.yaml"


def test_image_healthcheck_is_the_same_command_as_compose(compose: dict[str, Any]) -> None:
    healthcheck = dockerfile_instruction("HEALTHCHECK")
    command = re.search(r"CMD (\[.*\])$", healthcheck)
    assert command and yaml.safe_load(command.group(1)) == compose["services"]["threadline"]["healthcheck"]["test"][1:]
