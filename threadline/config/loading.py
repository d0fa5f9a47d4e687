"""Load threadline.yaml: ${ENV} (or ENV_FILE) interpolation, validation, errors naming file, key path, expectation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from threadline.config import models
from threadline.config.key_hints import key_hint
from threadline.config.models import Settings

DEFAULT_PATH = Path("threadline.yaml")
_TAGS = {"imap", "gmail", "outlook", "hubspot", "salesforce"}
ENV_REFERENCE = re.compile(  # ${NAME} or ${NAME:-default} in a config value
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# A real config nests about six levels and holds hundreds of values. Beyond these it is a YAML alias that
# contains itself (endless recursion) or aliases that expand exponentially ("billion laughs"): both were a
# traceback or a hang instead of a ConfigError (found by tests/reliability/test_fuzz_config.py).
MAX_DEPTH = 64
MAX_VALUES = 100_000


def _secret_fields() -> frozenset[str]:
    """Names of every SecretStr setting: their values are never echoed in an error, even of the wrong type."""
    return frozenset(name for model in vars(models).values()
                     if isinstance(model, type) and issubclass(model, BaseModel)
                     for name, info in model.model_fields.items() if "SecretStr" in str(info.annotation))


_SECRETS = _secret_fields()


class ConfigError(Exception):
    """Invalid configuration. `problems` are lines of 'key.path: what was expected'."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"Invalid configuration in {self.path}:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


def config_path(explicit: str | Path | None) -> Path:
    """--config, else THREADLINE_CONFIG, else ./threadline.yaml."""
    return Path(explicit or os.environ.get("THREADLINE_CONFIG") or DEFAULT_PATH)


def _resolve(name: str, default: str | None, env: Mapping[str, str], where: str, missing: list[str]) -> str:
    """${NAME}: env NAME, else the file named by env NAME_FILE (Docker/Kubernetes secrets), else the default."""
    if name in env:
        return env[name]
    file = env.get(f"{name}_FILE")
    if file:
        try:
            # Secret files usually end with the newline an editor or `echo` added; it is never part of the secret.
            return Path(file).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            missing.append(f"{where}: {name}_FILE names {file}, which cannot be read ({reason})")
            return ""
    if default is not None:
        return default
    missing.append(f"{where}: environment variable {name} is not set")
    return ""


def _interpolate(value: Any, env: Mapping[str, str], loc: tuple[Any, ...], missing: list[str]) -> Any:
    if isinstance(value, str):
        where = _key_path(loc, pydantic=False) or "(top level)"
        return ENV_REFERENCE.sub(lambda match: _resolve(match.group(1), match.group(2), env, where, missing), value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, (*loc, str(k)), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, (*loc, i), missing) for i, v in enumerate(value)]
    return value


def _key_path(loc: tuple[Any, ...], *, pydantic: bool = True) -> str:
    """"mailboxes[0].address" for a location: pydantic's error loc, or (pydantic=False) one we built."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif pydantic and part in _TAGS and (out.endswith("]") or out == "crm"):
            continue  # discriminator tags pydantic inserts; not a key the user wrote
        else:
            # A blank, space-padded or control-character key (" ", " 0", "\r") was an invisible path: quoted.
            key = str(part)
            name = key if key and key == key.strip() and key.isprintable() else repr(key)
            out += f".{name}" if out else name
    return out


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    if message.startswith("Value error, ") and ("required" in message or " must " in message):
        return message.removeprefix("Value error, ")
    message = message.removeprefix("Value error, ").removeprefix("Input should be ")
    got = error.get("input")
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        hint = key_hint(tuple(error.get("loc") or ()))
        return f"is not a known setting ({hint or 'check the spelling'})"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"expected kind one of {ctx.get('expected_tags', '')} (got {ctx.get('tag')!r})"
    if kind == "union_tag_not_found":
        return "needs a 'kind' key"
    loc = error.get("loc") or ()
    # A token written as a bare number is still the token: echoing it put it in logs (found by test_fuzz_config.py).
    hidden = "secret" in str(loc) or any(str(part) in _SECRETS for part in loc)
    shown = "" if isinstance(got, (dict, list)) or got is None or hidden else f" (got {got!r})"
    return f"expected {message[0].lower() + message[1:]}{shown}"


def _oversized(data: Any) -> str | None:
    """Why `data` is no config (nested past MAX_DEPTH or more than MAX_VALUES values), else None. Iterative:
    a self-referencing alias must not recurse here either."""
    stack, count = [(data, 0)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels (a YAML alias that contains itself?)"
        if count > MAX_VALUES:
            return f"more than {MAX_VALUES} values (YAML aliases that expand?)"
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return None


def parse_settings(data: Any, path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Validate already-loaded YAML data. Raises ConfigError with every problem found."""
    if not isinstance(data, dict):
        raise ConfigError(path, ["(top level): expected a mapping with store, crm, mailboxes, sync ... sections"])
    oversized = _oversized(data)
    if oversized:
        raise ConfigError(path, [f"(top level): {oversized}"])
    missing: list[str] = []
    data = _interpolate(data, os.environ if env is None else env, (), missing)
    if missing:
        raise ConfigError(path, missing)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [problem_line(e) for e in exc.errors()]) from None


def problem_line(error: Mapping[str, Any], within: tuple[Any, ...] = (), *, show_within: bool = True) -> str:
    """One pydantic error as "mailboxes[0].address: is required", a secret's value never echoed. ``within``:
    where the validated data sits in a whole threadline.yaml (("rules",) for a rules section), so key hints
    look in the right place; ``show_within=False`` leaves it out of the key path, for a file holding only
    that section."""
    loc = tuple(error.get("loc") or ())
    key = _key_path((*within, *loc) if show_within else loc)
    return f"{key or '(top level)'}: {_describe({**error, 'loc': (*within, *loc)})}"


def read_yaml(path: Path, *, missing: str = "file not found") -> Any:
    """The YAML document in ``path``, parsed (not validated). Raises ConfigError naming the file (never anything
    else) when it is missing (``missing`` says so), unreadable, not UTF-8, not YAML, or too big once its aliases
    are expanded."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [missing]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the file: {getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:  # PyYAML's composer recurses per level: "[" * 5000 was a traceback
        raise ConfigError(path, [f"(YAML syntax): nested too deeply (more than {MAX_DEPTH} levels)"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(path, [f"(YAML syntax) {where}: {getattr(exc, 'problem', exc)}"]) from None
    oversized = _oversized(data)          # before anything walks it: aliases can expand to billions of values
    if oversized:
        raise ConfigError(path, [f"(top level): {oversized}"])
    return data


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file. Raises ConfigError (never anything else) for bad input."""
    file = config_path(path)
    data = read_yaml(file, missing="file not found (run `threadline init` to write a starter, or pass --config)")
    return parse_settings(data, file, env)
