"""The compose stack, its image and the Kibana objects, checked against the code they run.

No container runs here; these catch the drift that breaks `docker compose up` later:
a service or port renamed, a TRIBE_* variable that settings.py does not read, a CLI
option that does not exist, an image the client cannot talk to, a dashboard on an
index name no view writes, a field a view does not map.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import elasticsearch
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from api.probes import HttpMetrics
from projections.adapters.elasticsearch_store import DEFAULT_PREFIX
from projections.metrics import ProjectionMetrics
from projections.store import CollectionSpec
from projections.views import VIEWS
from services.metrics import WriteMetrics
from tribe.cli import main as cli
from tribe.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OBJECTS: list[dict[str, Any]] = [
    json.loads(line) for line in (ROOT / "dashboards" / "tribestream.ndjson").read_text().splitlines() if line.strip()
]
SPECS: dict[str, CollectionSpec] = {alias: spec for view in VIEWS for alias, spec in view.collections.items()}
MONITORING = ROOT / "monitoring"


def image_version(service: str) -> tuple[str, str]:
    name, _, tag = SERVICES[service]["image"].rpartition(":")
    return name, tag


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def container_port(service: str) -> set[int]:
    return {int(p.rsplit(":", 1)[1]) for p in SERVICES[service].get("ports", [])}


# -- the compose file -------------------------------------------------------------------


def test_the_stack_has_its_services() -> None:
    assert set(SERVICES) == {
        "kafka", "elasticsearch", "kibana", "kibana-setup", "redis", "keys", "api", "worker", "prometheus", "grafana"
    }


def test_images_are_pinned_and_elasticsearch_matches_the_client_major() -> None:
    for name, service in SERVICES.items():
        if "build" not in service:
            _, tag = image_version(name)
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name} is not pinned to a version: {service['image']}"
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
    assert container_port("prometheus") == {9090}
    assert container_port("grafana") == {3000}
    assert not SERVICES["worker"].get("ports"), "Prometheus reaches the worker inside the stack"
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_start_order_waits_for_health() -> None:
    def waits_for(service: str) -> dict[str, str]:
        return {dep: cond["condition"] for dep, cond in SERVICES[service].get("depends_on", {}).items()}

    healthy = "service_healthy"
    assert waits_for("api") == {"kafka": healthy, "elasticsearch": healthy, "redis": healthy, "keys": healthy}
    assert waits_for("worker") == {"kafka": healthy, "elasticsearch": healthy, "keys": healthy}
    assert waits_for("kibana") == {"elasticsearch": healthy}
    assert waits_for("kibana-setup") == {"kibana": healthy}
    assert waits_for("grafana") == {"prometheus": healthy}
    for name in ("kafka", "elasticsearch", "kibana", "redis", "keys", "api", "worker", "prometheus", "grafana"):
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
    assert "8080/health/ready" in " ".join(SERVICES["api"]["healthcheck"]["test"])


def test_the_api_keeps_its_rate_limit_counters_in_the_compose_redis() -> None:
    """Every API process of the stack counts a client's requests in one place."""
    storage = urlsplit(SERVICES["api"]["environment"]["TRIBE_RATE_LIMIT_STORAGE"])
    assert (storage.scheme, storage.hostname, storage.port) == ("redis", "redis", 6379)
    assert not SERVICES["redis"].get("ports"), "the counters are for the API, not published beyond the stack"
    assert "redis-cli" in SERVICES["redis"]["healthcheck"]["test"]


@pytest.mark.parametrize(("service", "command"), [("api", "serve"), ("worker", "worker")])
def test_the_commands_accept_the_options_compose_gives_them(service: str, command: str) -> None:
    given = SERVICES[service]["command"]
    assert given[:2] == ["tribe", command]
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    for name in given[2::2]:
        assert name in result.output, f"tribe {command} has no {name} option"


def test_every_tribe_variable_in_compose_is_a_setting() -> None:
    """Settings reads (and documents) exactly the variables its fields name; compose uses only those."""
    known = {f.metadata["env"] for f in dataclasses.fields(Settings)}
    used = {v for s in SERVICES.values() for v in (s.get("environment") or {}) if v.startswith("TRIBE_")}
    assert used, "compose sets no TRIBE_* variable"
    assert used <= known, f"no setting reads {sorted(used - known)}"
    environment = {v: value for s in SERVICES.values() for v, value in (s.get("environment") or {}).items()}
    Settings.from_env({v: str(environment[v]) for v in used if "${" not in str(environment[v])})


def test_elasticsearch_never_auto_creates_an_index_the_store_owns() -> None:
    env = SERVICES["elasticsearch"]["environment"]
    assert env["action.auto_create_index"].split(",")[0] == f"-{DEFAULT_PREFIX}*"
    assert env["xpack.security.enabled"] == "false" and env["discovery.type"] == "single-node"


# -- Prometheus and Grafana ----------------------------------------------------------------------


def test_the_workers_health_check_and_prometheus_ask_the_port_the_worker_listens_on() -> None:
    worker = SERVICES["worker"]
    settings = Settings.from_env({k: str(v) for k, v in worker["environment"].items()})
    assert settings.host == "0.0.0.0"
    assert f"127.0.0.1:{settings.worker_port}/health/ready" in " ".join(worker["healthcheck"]["test"])
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"api", "worker"}
    assert jobs["api"]["static_configs"] == [{"targets": [f"api:{SERVICES['api']['environment']['TRIBE_PORT']}"]}]
    assert jobs["worker"]["dns_sd_configs"] == [{"names": ["worker"], "type": "A", "port": settings.worker_port}]
    assert {job.get("metrics_path", "/metrics") for job in jobs.values()} == {"/metrics"}
    assert "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in SERVICES["prometheus"]["volumes"]


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    volumes = SERVICES["grafana"]["volumes"]
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    (source,) = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")
    (provider,) = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/tribestream.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((MONITORING / "grafana/dashboards/tribestream.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert all(target["datasource"]["uid"] == source["uid"] for target in panel["targets"]), panel["title"]


def test_the_dashboard_shows_every_metric_the_code_exposes_and_no_other() -> None:
    registry = CollectorRegistry()
    HttpMetrics(registry)
    WriteMetrics(registry)
    ProjectionMetrics(registry)
    families = {family.name: family.type for family in registry.collect()}
    dashboard = json.loads((MONITORING / "grafana/dashboards/tribestream.json").read_text())
    used = {
        name for panel in dashboard["panels"] for target in panel["targets"]
        for name in re.findall(r"\btribe_[a-z_]+", target["expr"])
    }
    samples = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exposed = {name + suffix: name for name, kind in families.items() for suffix in samples[kind]}
    assert used <= set(exposed), f"the code exposes no {sorted(used - set(exposed))}"
    assert {exposed[name] for name in used} == set(families), "a metric the dashboard does not show"


# -- the image ------------------------------------------------------------------------------


def test_the_image_installs_the_package_with_the_readme_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN (pip install [^\n&]+?)\s*$", dockerfile, flags=re.M)
    assert installs == ["pip install -e ."]
    assert "pip install -e ." in (ROOT / "README.md").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "README.md" not in ignored and "tribe-data" in ignored


# -- the Kibana objects ----------------------------------------------------------------------


def by_type(kind: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in OBJECTS if o["type"] == kind}


def test_the_setup_service_imports_the_file_in_the_repository() -> None:
    setup = SERVICES["kibana-setup"]
    assert "./dashboards:/dashboards:ro" in setup["volumes"]
    assert "_import?overwrite=true" in setup["command"][0]
    assert "file=@/dashboards/tribestream.ndjson" in setup["command"][0]


def test_data_views_name_the_aliases_with_a_mapped_date_as_time_field() -> None:
    views = by_type("index-pattern")
    aliases = {v["attributes"]["title"].removeprefix(DEFAULT_PREFIX): v for v in views.values()}
    assert {"articles", "users", "comments", "follows"} <= set(aliases)
    for alias, view in aliases.items():
        assert view["attributes"]["title"] == DEFAULT_PREFIX + alias
        assert alias in SPECS, f"data view {alias!r} is not an alias of any view in projections/views.py"
        assert SPECS[alias].fields[view["attributes"]["timeFieldName"]] == "date"


def test_visualisations_use_fields_their_data_view_maps() -> None:
    titles = {i: o["attributes"]["title"].removeprefix(DEFAULT_PREFIX) for i, o in by_type("index-pattern").items()}
    lenses = by_type("lens")
    assert lenses
    for lens_id, lens in lenses.items():
        refs = {r["name"]: r["id"] for r in lens["references"]}
        for layer_id, layer in lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].items():
            spec = SPECS[titles[refs[f"indexpattern-datasource-layer-{layer_id}"]]]
            assert set(layer["columnOrder"]) == set(layer["columns"])
            for column in layer["columns"].values():
                name = column["sourceField"]
                if name == "___records___":
                    continue
                assert name in spec.fields, f"{lens_id} uses {name!r}, which its alias does not map"
                if column["operationType"] == "terms":
                    assert spec.fields[name] == "keyword", f"{lens_id} aggregates on {name!r}"
                if column["operationType"] in ("max", "sum", "average"):
                    assert spec.fields[name] == "long"


def test_the_dashboard_references_every_panel_and_every_reference_resolves() -> None:
    ids = {(o["type"], o["id"]) for o in OBJECTS}
    for obj in OBJECTS:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']} references a missing {ref}"
    (dashboard,) = by_type("dashboard").values()
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    names = {r["name"] for r in dashboard["references"]}
    assert [p["panelRefName"] for p in panels] == [f"panel_{p['panelIndex']}" for p in panels]
    assert {p["panelRefName"] for p in panels} == names
    assert set(by_type("lens")) == {r["id"] for r in dashboard["references"]}


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['type']}:{o['id']}")
def test_each_saved_object_has_what_the_import_api_needs(obj: dict[str, Any]) -> None:
    assert obj["id"] and obj["type"] in {"index-pattern", "lens", "dashboard"}
    assert obj["attributes"]["title"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", obj["typeMigrationVersion"])
    assert obj["coreMigrationVersion"] == "8.8.0"


def test_every_process_of_the_log_shares_one_durable_key_store() -> None:
    """A process with a key store of its own could not open what another sealed (docs/privacy.md)."""
    keys = {name: SERVICES[name]["environment"] for name in ("api", "worker")}
    assert {k["TRIBE_KEY_STORE"] for k in keys.values()} == {"redis://keys:6379"}
    assert len({k["TRIBE_KEY_ENCRYPTION_KEY"] for k in keys.values()}) == 1
    command = SERVICES["keys"]["command"]
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "always"), ("--save", ""),
                        ("--maxmemory-policy", "noeviction")):
        assert command[command.index(flag) + 1] == value, flag

