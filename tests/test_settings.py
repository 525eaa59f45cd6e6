"""The one settings object: defaults, then ``BOT_<FIELD>`` variables, then keywords."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.settings import ROOT, Settings, env_name

FIELDS = dataclasses.fields(Settings)


def _other_value(default: object) -> tuple[str, object]:
    """A value unlike ``default`` of the same type: as an environment string and as parsed."""
    if isinstance(default, Path):
        return "/srv/elsewhere", Path("/srv/elsewhere")
    if isinstance(default, bool):
        return ("0", False) if default else ("1", True)
    if isinstance(default, int):
        return str(default + 7), default + 7
    if isinstance(default, float):
        return str(default + 0.25), default + 0.25
    return f"{default}-changed", f"{default}-changed"


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env(env={})
    assert settings == Settings()
    assert settings.index_dir == ROOT / "index" and settings.rasa_timeout == 15.0
    assert settings.max_body_bytes == 128 * 1024 and settings.rasa_max_in_flight == 8
    assert settings.accounts_file == ROOT / "var" / "agents.txt"


@pytest.mark.parametrize(
    ("variable", "raw", "field", "value"),
    [
        ("BOT_DATABASE_URL", "postgresql+psycopg2://a@db/requests", "database_url", "postgresql+psycopg2://a@db/requests"),
        ("BOT_WEB_PORT", "9090", "web_port", 9090),
        ("BOT_ANSWER_THRESHOLD", "0.61", "answer_threshold", 0.61),
        ("BOT_RASA_TIMEOUT", "30", "rasa_timeout", 30.0),
        ("BOT_QUERY_ADAPTER", "0", "query_adapter", False),
        ("BOT_QUERY_ADAPTER", "off", "query_adapter", False),
        ("BOT_QUERY_ADAPTER", "Yes", "query_adapter", True),
        ("BOT_INDEX_DIR", "/srv/index", "index_dir", Path("/srv/index")),
        ("BOT_VAR_DIR", "relative/var", "var_dir", Path("relative/var")),
    ],
)
def test_each_type_is_read_from_the_environment(variable: str, raw: str, field: str, value: object) -> None:
    read = getattr(Settings.from_env(env={variable: raw}), field)
    assert read == value and type(read) is type(value)


def test_keywords_beat_the_environment_which_beats_the_default() -> None:
    env = {"BOT_RASA_TIMEOUT": "9", "BOT_VAR_DIR": "/srv/var", "BOT_WEB_PORT": "9090"}
    settings = Settings.from_env(env=env, rasa_timeout=2.5, var_dir=Path("/tmp/var"))
    assert settings.rasa_timeout == 2.5 and settings.var_dir == Path("/tmp/var")  # keywords
    assert settings.web_port == 9090  # environment
    assert settings.agent_idle_minutes == 60.0 and settings.rasa_max_waiting == 200  # defaults
    assert settings.accounts_file == Path("/tmp/var/agents.txt")


def test_an_empty_variable_keeps_the_default() -> None:
    settings = Settings.from_env(env={"BOT_AGENT_ACCOUNTS": "", "BOT_RASA_MAX_IN_FLIGHT": "", "BOT_RASA_URL": ""})
    assert settings == Settings()


def test_a_bad_number_names_its_variable() -> None:
    with pytest.raises(ValueError, match="BOT_RASA_MAX_IN_FLIGHT='eight'"):
        Settings.from_env(env={"BOT_RASA_MAX_IN_FLIGHT": "eight"})


def test_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(TypeError):
        Settings.from_env(env={}, rasa_timout=3.0)


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_is_overridden_by_its_variable(field: dataclasses.Field) -> None:
    raw, value = _other_value(field.default)
    assert value != field.default
    settings = Settings.from_env(env={env_name(field.name): raw})
    assert getattr(settings, field.name) == value
    assert dataclasses.replace(settings, **{field.name: field.default}) == Settings()  # nothing else changed


def test_every_field_has_a_plain_default() -> None:
    for field in FIELDS:
        assert field.default is not dataclasses.MISSING, field.name
        assert isinstance(field.default, (str, bool, int, float, Path)), field.name


def _documented_variables() -> list[str]:
    """Every ``BOT_*`` name README.md, deploy/ and docs/ mention."""
    files = [ROOT / "README.md", *(ROOT / "deploy").rglob("*"), *(ROOT / "docs").rglob("*")]
    names: set[str] = set()
    for path in filter(Path.is_file, files):
        names.update(re.findall(r"\bBOT_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8", errors="replace")))
    return sorted(names)


@pytest.mark.parametrize("variable", _documented_variables())
def test_documented_variables_are_settings(variable: str) -> None:
    assert variable in {env_name(f.name) for f in FIELDS}
