"""The Dockerfile and compose.yaml parse and name commands, files and flags that exist (CI builds
no image: there is no registry here)."""
from __future__ import annotations

import json
import re
import shlex
import tomllib

import yaml
from streamlit import config as st_config

from api.cli import _parser as api_parser
from tests.helpers import ROOT, compose_interpolate


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


def _at_defaults(command: list[str]) -> list[str]:
    """A compose command with .env's optional variables left unset (at their defaults)."""
    return [compose_interpolate(arg, {"SHOP_ORIGIN": "https://shop.example.com"}) for arg in command]


def _check_api_command(command: list[str]) -> None:
    assert command[:3] == ["python", "-m", "api"] and (ROOT / "api" / "__main__.py").is_file()
    args = api_parser().parse_args(_at_defaults(command)[3:])  # every flag is one the API has
    assert args.host == "0.0.0.0" and args.port == 8000 and args.workers == 2


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


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_the_app_the_api_and_postgresql_on_shared_artifacts():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"proxy", "app", "api", "api-key", "db"}
    _check_app_command(services["app"]["command"])
    _check_api_command(services["api"]["command"])
    assert services["db"]["image"].startswith("postgres:")
    for name in ("app", "api"):
        assert "artifacts:/data" in services[name]["volumes"]
    assert set(compose["volumes"]) >= {"artifacts", "cache", "api-cache", "pgdata", "api-secrets"}
    caches = {name: {v for v in services[name]["volumes"] if v.endswith(":/cache")} for name in ("app", "api")}
    assert caches["app"] and caches["api"] and not caches["app"] & caches["api"]  # cached code is not shared
    for name, value in services["db"]["environment"].items():
        if "PASSWORD" in name:
            assert str(value).startswith("${") and ":?" in value, name  # from .env, never written here


def test_only_the_tls_proxy_is_published_and_the_database_is_on_an_internal_network():
    compose = _compose()
    services = compose["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"proxy": ["80:80", "443:443"]}
    internal = {name for name, net in compose["networks"].items() if (net or {}).get("internal")}
    assert set(services["db"]["networks"]) <= internal and internal & set(services["app"]["networks"])
    assert not internal & (set(services["proxy"]["networks"]) | set(services["api"]["networks"]))  # db unreachable
    assert services["api-key"]["network_mode"] == "none"


def test_the_first_key_is_made_into_a_secrets_volume_before_the_api_starts():
    services = _compose()["services"]
    step, api = services["api-key"], services["api"]
    add = api_parser().parse_args(step["command"][3:])
    serve = api_parser().parse_args(_at_defaults(api["command"])[3:])
    assert step["command"][:3] == ["python", "-m", "api"] and add.command == "add-key"
    assert add.if_missing and add.scope == "read" and add.token_file is not None
    assert add.sub_keys_file == serve.keys_file and not serve.no_auth and not serve.docs
    assert api["environment"]["VITRINE_API_KEYS"] == str(serve.keys_file)  # docker compose exec api python -m api ...
    mount = next(v for v in step["volumes"] if str(add.token_file).startswith(v.split(":")[1] + "/"))
    assert mount.split(":")[0] in _compose()["volumes"] and mount in api["volumes"]
    assert api["depends_on"]["api-key"] == {"condition": "service_completed_successfully"}
    folder = mount.split(":")[1]
    docker = (ROOT / "Dockerfile").read_text()
    assert f"chmod 0700 {folder}" in docker and folder in docker.split("chown", 1)[1]  # the volume's owner, 0700


def test_the_apps_secrets_are_mounted_read_only_never_built_into_the_image():
    compose = _compose()
    app = compose["services"]["app"]
    workdir = next(arg for op, arg in _instructions() if op == "WORKDIR")
    (secret,) = app["secrets"]
    assert secret["target"] == f"{workdir}/.streamlit/secrets.toml"
    assert compose["secrets"][secret["source"]]["file"] == "./.streamlit/secrets.toml"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".streamlit/secrets.toml", ".env", "deploy/certs/", "api_keys.toml"} <= set(ignored)
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text().split()


def test_the_proxy_mounts_its_config_and_the_certificate_read_only():
    proxy = _compose()["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    mounts = {v.split(":")[0]: v.split(":")[1:] for v in proxy["volumes"]}
    template = mounts["./deploy/nginx/vitrine.conf.template"]
    assert template[0].startswith("/etc/nginx/templates/") and template[0].endswith(".conf.template")
    assert template[1] == "ro" and mounts["./deploy/certs"] == ["/etc/nginx/certs", "ro"]
    assert (ROOT / "deploy" / "certs" / "README.md").is_file()
    assert (ROOT / "deploy" / "certs" / ".gitignore").read_text().splitlines()[1] == "*"  # no key is committed
    assert proxy["environment"]["VITRINE_HOST"].startswith("${VITRINE_HOST:?")


def _nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([km]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 ** 2}[unit]


def _locations(config: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"location\s+(?:=\s+)?(\S+)\s*\{([^}]*)\}", config)}


def test_the_proxy_limits_bodies_to_the_apps_and_the_apis_and_forwards_who_called():
    from api.app import MAX_BODY, MAX_UPLOAD_BODY

    config = (ROOT / "deploy" / "nginx" / "vitrine.conf.template").read_text()
    assert re.search(r"^server_tokens off;", config, re.M)
    assert _nginx_size(re.search(r"^    client_max_body_size (\S+);", config, re.M).group(1)) == MAX_BODY
    locations = _locations(config)
    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    upload = _nginx_size(re.search(r"client_max_body_size (\S+);", locations["/_stcore/upload_file/"]).group(1))
    assert upload_mb * 1024 ** 2 < upload <= (upload_mb + 2) * 1024 ** 2
    photo = _nginx_size(re.search(r"client_max_body_size (\S+);", locations["/api/v1/visual-search"]).group(1))
    assert MAX_UPLOAD_BODY < photo <= MAX_UPLOAD_BODY + 2 * 1024 ** 2
    for path, block in locations.items():
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in block, path  # a client's own value dropped
        assert "proxy_set_header X-Forwarded-Proto https;" in block, path
    stream = locations["/_stcore/stream"]
    assert "proxy_set_header Upgrade $http_upgrade;" in stream and "Connection $connection_upgrade" in stream
    assert re.search(r"proxy_read_timeout (\d+)d;", stream)
    assert 'proxy_set_header Cookie "";' in locations["/api/"]


def test_env_example_names_every_variable_compose_needs_and_holds_no_password():
    text = (ROOT / "compose.yaml").read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", text))
    optional = dict(re.findall(r"\$\{(\w+):-([^}]*)\}", text))  # with compose's default, shown at it
    example = dict(line.split("=", 1) for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert needed | set(optional) == set(example)
    assert all(example[name] == default for name, default in optional.items())
    assert all(example[name] == "" for name in needed if "PASSWORD" in name)
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
