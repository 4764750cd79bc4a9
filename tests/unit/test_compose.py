"""deploy/compose.yaml cannot run here (no Docker): check that every service, port, volume and setting it names
exists, that its settings are valid Warmline settings, and that HAProxy's config points at its instances."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.config import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)(?::\?[^}]*)?\}")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _instances(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


def _filled(value: str) -> str:
    """A compose value with its ${VARS} filled the way deploy/env.example shows."""
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    return PLACEHOLDER.sub(lambda match: example.get(match.group(1)) or "x", value)


def test_there_are_several_instances_built_from_the_repository_dockerfile() -> None:
    instances = _instances(_compose())
    assert len(instances) >= 2
    for spec in instances.values():
        context = (DEPLOY / spec["build"]["context"]).resolve()
        assert (context / spec["build"].get("dockerfile", "Dockerfile")).is_file()
        assert int(spec["stop_grace_period"].rstrip("s")) > int(spec["environment"]["IVR_DRAIN_TIMEOUT_S"])


def test_every_setting_an_instance_gets_is_a_valid_warmline_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {f"IVR_{name.upper()}" for name in Settings.model_fields}
    for name, spec in _instances(_compose()).items():
        environment = spec["environment"]
        assert set(environment) <= fields, f"{name}: {set(environment) - fields} are not Warmline settings"
        for variable, value in environment.items():
            monkeypatch.setenv(variable, _filled(str(value)))
        settings = Settings()  # the values are valid together (e.g. Redis with PostgreSQL, not SQLite)
        assert settings.redis_url and settings.database_url and settings.database_url.startswith("postgresql")


def test_every_service_volume_and_dependency_named_exists() -> None:
    compose = _compose()
    services, volumes = compose["services"], set(compose.get("volumes") or {})
    assert {"redis", "postgres", "haproxy"} <= set(services)
    for name, spec in services.items():
        for dependency in spec.get("depends_on") or []:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in spec.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
            elif not source.startswith(("/", "$")):
                assert source in volumes, f"{name} uses volume {source}, which is not declared"
        for network in spec.get("networks") or []:
            assert network in (compose.get("networks") or {})
    for spec in _instances(compose).values():
        environment = spec["environment"]
        assert _host(environment["IVR_REDIS_URL"]) in services
        assert _host(environment["IVR_DATABASE_URL"]) in services


def test_every_variable_the_compose_file_requires_is_in_the_example_env_file() -> None:
    required = set(PLACEHOLDER.findall(COMPOSE.read_text(encoding="utf-8")))
    example = {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text().splitlines() if "=" in line}
    assert required <= example, required - example


def test_haproxy_balances_over_exactly_the_instances_on_the_port_they_listen_on() -> None:
    compose = _compose()
    config = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    servers = dict(re.findall(r"^\s*server\s+\S+\s+([\w-]+):(\d+)", config, re.MULTILINE))
    assert set(servers) == set(_instances(compose))
    listens = re.search(r'"--port", "(\d+)"', (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"))
    assert listens is not None and set(servers.values()) == {listens.group(1)}
    assert re.search(r"option httpchk GET /readyz", config) and "timeout tunnel" in config
    bind = re.search(r"^\s*bind\s+\S*:(\d+)", config, re.MULTILINE)
    published = {str(port).split(":")[-1] for port in compose["services"]["haproxy"]["ports"]}
    assert bind is not None and bind.group(1) in published


def _host(url: str) -> str:
    return url.split("@")[-1].split("//")[-1].split("/")[0].split(":")[0]


def test_the_deploy_readme_explains_running_rolling_deploys_and_capacity() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8").lower()
    for topic in ("docker compose", "rolling", "per core", "add instances", "ivr db upgrade"):
        assert topic in readme, topic
    assert Path(DEPLOY / "env.example").is_file()
