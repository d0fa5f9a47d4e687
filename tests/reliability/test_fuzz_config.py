"""threadline.yaml at its worst: every bad file gives ConfigError with a key path, never a traceback or a hang.

A valid config is damaged at a random key path (a wrong type, a random tree, a missing or unknown key),
or replaced by random text; YAML's own traps (an alias inside itself, aliases that expand exponentially,
thousands of nested brackets) are tried by name. Secret settings given a value of the wrong type are
never echoed back.
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.strategies import fuzz, json_trees
from threadline.config.loading import ConfigError, load_settings

SECRET = 98765432123          # a numeric "token": the wrong type, and a value that must not be echoed
BASE: dict[str, Any] = {
    "store": {"url": "sqlite:///threadline.db"},
    "crm": {"kind": "hubspot", "token": "pat-na1-0000", "requests_per_10s": 100},
    "mailboxes": [{"kind": "imap", "address": "rep@northwind.example", "host": "imap.example", "port": 993,
                   "username": "rep", "password": "pw-0000"},
                  {"kind": "gmail", "address": "two@northwind.example", "client_id": "c", "client_secret": "s",
                   "refresh_token": "r"}],
    "sync": {"internal_domains": ["northwind.example"], "backfill_days": 30, "poll_interval": "5m",
             "aliases": {"sales@northwind.example": "rep@northwind.example"}},
    "server": {"port": 8080, "events_token": "ev-0000-0000-0000-0000", "admin_token": "ad-0000-0000-0000-0000"},
    "push": {"hubspot": {"app_secret": "hs-0000"}},
}
PROBLEM = re.compile(r"^\S.*?: \S", re.DOTALL)      # "<key path>: <what was expected>"
# Built once: a strategy built per draw costs more than the test itself.
TREES, SMALL_TREES = json_trees(8), json_trees(3)
YAML_SCALARS = st.sampled_from(["~", "yes", "no", "0x1F", "1e400", ".nan", "-.inf", "2026-11-23", "12:30:00",
                                "!!binary aGk=", "'${UNSET_VAR}'", "'${X:-}'", "\"\\0\"", "!!str 5", "[]", "{}"])


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in `value`, containers included."""
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


ALL_PATHS = paths(BASE)


def load(tmp_path: Path, text: str) -> None:
    """Load `text` as the config; a ConfigError is the only acceptable failure and must name where."""
    file = tmp_path / "threadline.yaml"
    file.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load_settings(file, env={})
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert PROBLEM.match(problem), problem
        assert str(SECRET) not in error.render()


def damaged(data: st.DataObject) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(ALL_PATHS))
        parent: Any = config
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent, dict) and key in parent or (
                isinstance(parent, list) and isinstance(key, int) and key < len(parent)) else None
            if parent is None:
                break
        if parent is None or not isinstance(parent, dict | list):
            continue
        key = path[-1]
        if isinstance(parent, list) and not (isinstance(key, int) and key < len(parent)):
            continue
        if isinstance(parent, dict) and key not in parent:
            continue
        action = data.draw(st.sampled_from(["replace", "delete", "unknown", "secret"]))
        if action == "replace":
            parent[key] = data.draw(TREES)
        elif action == "delete":
            del parent[key]
        elif action == "unknown" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=10))] = data.draw(SMALL_TREES)
        elif isinstance(parent, dict):
            for name in ("token", "password", "client_secret", "refresh_token", "app_secret", "events_token"):
                if name in parent:
                    parent[name] = data.draw(st.sampled_from([SECRET, [SECRET], {"v": SECRET}, float(SECRET)]))
    return config


@fuzz(150)
@given(st.data())
def test_a_config_damaged_anywhere_is_refused_with_a_key_path(tmp_path: Path, data: st.DataObject) -> None:
    load(tmp_path, yaml.safe_dump(damaged(data), allow_unicode=True))


@fuzz(100)
@given(st.data())
def test_yaml_specific_scalars_anywhere_are_refused_with_a_key_path(tmp_path: Path, data: st.DataObject) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False)
    lines = text.splitlines()
    targets = [i for i, line in enumerate(lines) if re.search(r": \S", line)]
    for i in data.draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3)):
        lines[i] = lines[i].split(": ")[0] + ": " + data.draw(YAML_SCALARS)
    load(tmp_path, "\n".join(lines) + "\n")


@fuzz(150)
@given(st.text(max_size=300) | st.lists(st.sampled_from(["a:", " ", "\n", "- ", "[", "]", "{", "}", "&x", "*x",
                                                         "!!python/object:os.system", "? ", ": ", "'", '"', "|",
                                                         "%YAML 1.1", "---", "...", "\t", "\x00", "\ufeff"]),
                                        max_size=60).map("".join))
def test_random_text_is_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    load(tmp_path, text)


@pytest.mark.parametrize("text", [
    "store: &a {url: *a}\n",                                                   # an alias inside itself
    "a: &a [*a]\n",
    "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" if i else "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
            for i in range(9)),                                                # a billion values from nine lines
    "store: " + "[" * 1100 + "]" * 1100 + "\n",                               # past PyYAML's recursion
])
def test_yaml_traps_are_refused_quickly(tmp_path: Path, text: str) -> None:
    started = time.thread_time()
    with pytest.raises(ConfigError) as error:
        load_settings(_write(tmp_path, text), env={})
    assert time.thread_time() - started < 5      # PyYAML alone takes ~1.5 s to give up on 1,100 brackets
    assert all(PROBLEM.match(problem) for problem in error.value.problems), error.value.problems


def test_secrets_of_the_wrong_type_are_named_but_never_echoed(tmp_path: Path) -> None:
    config = copy.deepcopy(BASE)
    config["crm"]["token"] = SECRET
    config["mailboxes"][0]["password"] = SECRET
    with pytest.raises(ConfigError) as error:
        load_settings(_write(tmp_path, yaml.safe_dump(config)), env={})
    assert {p.split(":")[0] for p in error.value.problems} == {"crm.token", "mailboxes[0].password"}
    assert str(SECRET) not in error.value.render()


def _write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "threadline.yaml"
    file.write_text(text)
    return file


def test_an_unset_variable_under_an_invisible_key_is_named_with_the_key_quoted(tmp_path: Path) -> None:
    # Found by the soak run: a "\r" key made the path of a missing ${VAR} start with a carriage return.
    file = tmp_path / "threadline.yaml"
    file.write_text(yaml.safe_dump({"\r": ["${A}"], "crm": {"kind": "hubspot", "token": "${B}"}}))
    with pytest.raises(ConfigError) as caught:
        load_settings(file, env={})
    assert caught.value.problems == ["'\\r'[0]: environment variable A is not set",
                                     "crm.token: environment variable B is not set"]
