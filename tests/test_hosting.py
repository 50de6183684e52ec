"""The Dockerfile and compose.yaml parse and name commands, files and flags that exist (CI builds
no image: there is no registry here)."""
from __future__ import annotations

import json
import re
import shlex

import yaml
from streamlit import config as st_config

from api.cli import _parser as api_parser
from tests.helpers import ROOT


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _check_app_command(command: list[str]) -> None:
    assert command[:3] == ["streamlit", "run", "streamlit_app.py"] and (ROOT / command[2]).is_file()
    flags = command[3:]
    for flag in flags[::2]:
        assert flag.startswith("--"), flag
        st_config.get_option(flag[2:])  # raises for an option Streamlit does not have


def _check_api_command(command: list[str]) -> None:
    assert command[:3] == ["python", "-m", "api"] and (ROOT / "api" / "__main__.py").is_file()
    args = api_parser().parse_args(command[3:])  # every flag is one the API has
    assert args.host == "0.0.0.0" and args.port == 8000


def test_the_dockerfile_runs_the_app_as_a_user_from_a_slim_python():
    steps = _instructions()
    assert steps[0][0] == "FROM" and re.fullmatch(r"python:3\.1[12]-slim", steps[0][1])
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    for op, arg in steps:
        if op == "COPY":
            sources = [a for a in shlex.split(arg) if not a.startswith("--")][:-1]
            assert all(s == "." or (ROOT / s).exists() for s in sources), arg
    cmd = json.loads(next(arg for op, arg in steps if op == "CMD"))
    _check_app_command(cmd)
    assert "VOLUME" in {op for op, _ in steps} and "/cache" in next(a for o, a in steps if o == "VOLUME")
    assert "python -m api --host 0.0.0.0 --port 8000" in (ROOT / "Dockerfile").read_text()  # the second command


def test_compose_runs_the_app_the_api_and_postgresql_on_shared_artifacts():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "api", "db"}
    _check_app_command(services["app"]["command"])
    _check_api_command(services["api"]["command"])
    assert services["db"]["image"].startswith("postgres:")
    for name in ("app", "api"):
        assert "artifacts:/data" in services[name]["volumes"]
    assert set(compose["volumes"]) >= {"artifacts", "cache", "pgdata"}
    assert "PASSWORD" not in json.dumps(services["db"]["environment"]).replace("POSTGRES_PASSWORD", "") or \
        services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${")  # from .env, not written here
