"""infra/ stays consistent with the code: compose's settings exist, its commands parse, the edge
template's variables are all provided, and exactly one process schedules the sweeper.

(No Docker engine runs here; the edge template itself runs under the real nginx in test_edge.py.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from api.cli import cli
from registry.settings import Settings
from tests.scaleout.conftest import NGINX_TEMPLATE, REPO

INFRA = REPO / "infra"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def _skupix_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if spec.get("image") == "skupix:latest"}


def test_compose_runs_every_part_of_the_deployment(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", "minio", "bucket", "migrate", "api", "worker", "scheduler", "edge"} <= set(
        compose["services"])
    assert set(_skupix_services(compose)) == {"migrate", "api", "worker", "scheduler", "edge-usage"}


def test_every_skupix_variable_in_compose_is_a_setting(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name, spec in _skupix_services(compose).items():
        for variable in spec["environment"]:
            assert variable.startswith("SKUPIX_"), (name, variable)
            assert variable.removeprefix("SKUPIX_").lower() in fields, f"{name}: {variable} is not a setting"


def test_compose_commands_are_valid_skupix_commands(compose: dict[str, Any]) -> None:
    runner = CliRunner()
    for name, spec in _skupix_services(compose).items():
        command = spec["command"]
        help_text = runner.invoke(cli, [command[0], "--help"], terminal_width=200).output
        assert "Usage" in help_text, f"{name}: unknown command {command[0]!r}"
        for flag in (part for part in command[1:] if part.startswith("--")):
            assert flag in help_text, f"{name}: `skupix {command[0]}` has no {flag}"


def test_exactly_one_process_runs_beat(compose: dict[str, Any]) -> None:
    with_beat = [name for name, spec in _skupix_services(compose).items() if "--beat" in spec["command"]]
    assert with_beat == ["scheduler"]
    assert compose["services"]["scheduler"].get("deploy", {}).get("replicas", 1) == 1


def test_the_edge_gets_every_template_variable(compose: dict[str, Any]) -> None:
    edge = compose["services"]["edge"]
    needed = set(re.findall(r"\$\{(\w+)\}", NGINX_TEMPLATE.read_text(encoding="utf-8")))
    assert needed == set(edge["environment"])
    mounts = [volume.split(":") for volume in edge["volumes"]]
    template = next(m for m in mounts if m[1].startswith("/etc/nginx/templates/"))
    assert (INFRA / template[0]).resolve() == NGINX_TEMPLATE.resolve()
    assert template[1].endswith("default.conf.template")  # replaces the image's default site


def test_the_dockerfile_copies_what_exists() -> None:
    dockerfile = (INFRA / "Dockerfile").read_text(encoding="utf-8")
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
    assert Path(INFRA / "Dockerfile.dockerignore").exists()


def test_the_edge_sets_the_socket_options_its_speed_depends_on() -> None:
    # The official nginx image's nginx.conf (which includes the template) leaves tcp_nopush off.
    server = NGINX_TEMPLATE.read_text(encoding="utf-8").split("\nserver {", 1)[1].split("\n    location", 1)[0]
    assert re.search(r"^\s+sendfile on;", server, re.M) and re.search(r"^\s+tcp_nopush on;", server, re.M)
