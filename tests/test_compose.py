"""The compose stack, its image and the Kibana objects, checked against the code they run.

No container runs here; these catch the drift that breaks `docker compose up` later:
a service or port renamed, a TRIBE_* variable that settings.py does not read, a CLI
option that does not exist, an image the client cannot talk to, a dashboard on an
index name no view writes, a field a view does not map.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import elasticsearch
import yaml
from click.testing import CliRunner

from projections.adapters.elasticsearch_store import DEFAULT_PREFIX
from tribe.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def image_version(service: str) -> tuple[str, str]:
    name, _, tag = SERVICES[service]["image"].rpartition(":")
    return name, tag


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def container_port(service: str) -> set[int]:
    return {int(p.rsplit(":", 1)[1]) for p in SERVICES[service].get("ports", [])}


# -- the compose file -------------------------------------------------------------------


def test_the_stack_has_its_services() -> None:
    assert set(SERVICES) == {"kafka", "elasticsearch", "kibana", "kibana-setup", "api", "worker"}


def test_images_are_pinned_and_elasticsearch_matches_the_client_major() -> None:
    for name, service in SERVICES.items():
        if "build" not in service:
            _, tag = image_version(name)
            assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name} is not pinned to a version: {service['image']}"
    _, es = image_version("elasticsearch")
    assert image_version("kibana")[1] == es == image_version("kibana-setup")[1], "Kibana must match Elasticsearch"
    assert es.split(".")[0] == elasticsearch.__versionstr__.split(".")[0], (
        f"elasticsearch-py {elasticsearch.__versionstr__} only talks to servers of its own major version"
    )


def test_ports_are_published_on_localhost_only() -> None:
    published = {name: s.get("ports", []) for name, s in SERVICES.items()}
    assert container_port("api") == {8080}
    assert container_port("elasticsearch") == {9200}
    assert container_port("kibana") == {5601}
    assert container_port("kafka") == {9094}
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_start_order_waits_for_health() -> None:
    def waits_for(service: str) -> dict[str, str]:
        return {dep: cond["condition"] for dep, cond in SERVICES[service].get("depends_on", {}).items()}

    healthy = "service_healthy"
    assert waits_for("api") == {"kafka": healthy, "elasticsearch": healthy}
    assert waits_for("worker") == {"kafka": healthy, "elasticsearch": healthy}
    assert waits_for("kibana") == {"elasticsearch": healthy}
    assert waits_for("kibana-setup") == {"kibana": healthy}
    for name in ("kafka", "elasticsearch", "kibana", "api"):
        assert SERVICES[name]["healthcheck"]["test"], f"{name} has no health check"


def test_the_api_and_workers_run_the_cli_against_the_compose_services() -> None:
    api, worker = SERVICES["api"]["command"], SERVICES["worker"]["command"]
    assert api[:2] == ["tribe", "serve"] and option(api, "--host") == "0.0.0.0"
    assert worker[:2] == ["tribe", "worker"]
    kafka_listener = urlsplit(
        next(u for u in SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",") if "kafka:" in u)
    )
    for command in (api, worker):
        log, store = urlsplit(option(command, "--log")), urlsplit(option(command, "--store"))
        assert (log.scheme, log.hostname, log.port) == ("kafka", "kafka", kafka_listener.port)
        assert (store.scheme, store.hostname) == ("http", "elasticsearch")
        assert store.port in container_port("elasticsearch")
    assert SERVICES["api"]["environment"]["TRIBE_PORT"] == "8080"
    assert "8080/api/tags" in " ".join(SERVICES["api"]["healthcheck"]["test"])


def test_serve_accepts_the_options_compose_gives_it() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for name in SERVICES["api"]["command"][2::2]:
        assert name in result.output, f"tribe serve has no {name} option"


def test_every_tribe_variable_in_compose_is_read_and_documented_by_settings() -> None:
    source = (ROOT / "tribe" / "settings.py").read_text()
    documented = set(re.findall(r"^\|\s*(TRIBE_[A-Z_]+)\s*\|", source, flags=re.M))
    read = set(re.findall(r'env\.get\("(TRIBE_[A-Z_]+)"', source))
    used = {v for s in SERVICES.values() for v in (s.get("environment") or {}) if v.startswith("TRIBE_")}
    assert used, "compose sets no TRIBE_* variable"
    assert used <= read, f"settings.py does not read {sorted(used - read)}"
    assert used <= documented, f"settings.py does not document {sorted(used - documented)}"


def test_elasticsearch_never_auto_creates_an_index_the_store_owns() -> None:
    env = SERVICES["elasticsearch"]["environment"]
    assert env["action.auto_create_index"].split(",")[0] == f"-{DEFAULT_PREFIX}*"
    assert env["xpack.security.enabled"] == "false" and env["discovery.type"] == "single-node"


# -- the image ------------------------------------------------------------------------------


def test_the_image_installs_the_package_with_the_readme_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN (pip install [^\n&]+?)\s*$", dockerfile, flags=re.M)
    assert installs == ["pip install -e ."]
    assert "pip install -e ." in (ROOT / "README.md").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "README.md" not in ignored and "tribe-data" in ignored
