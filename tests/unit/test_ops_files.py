"""The ops files agree with the code and with each other, checked without Docker or promtool.

docker-compose.yml, the Dockerfile, Prometheus' config and alert rules, Grafana's provisioning
and dashboard are parsed here. Every metric a PromQL expression selects must be defined in
gateway/ops/metrics.py (or be a process/Prometheus built-in), with label matchers that exist on
it; every path compose mounts must exist in the repo; every host:port one service uses to
reach another must be a compose service exposing that port.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry

from gateway.config import load_settings
from gateway.ops.metrics import GatewayMetrics
from simulator.config import load_config as load_simulator_config
from simulator.metrics import SimulatorMetrics

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
SCRAPE_LABELS = frozenset({"job", "instance"})  # attached by Prometheus to every scraped series


# --- what gateway/ops/metrics.py defines -------------------------------------------------------


def known_series() -> dict[str, frozenset[str]]:
    """Series name -> label names, for every metric our registries expose."""
    registry = CollectorRegistry()
    gateway = GatewayMetrics(registry, carriers=["acme"], version="test")
    simulator = SimulatorMetrics(CollectorRegistry(), version="test")
    series: dict[str, frozenset[str]] = {"up": frozenset()}
    for spec in (*gateway.specs, *simulator.specs):
        labels = frozenset(spec.labels)
        if spec.kind == "counter":
            series[spec.name + "_total"] = labels
        elif spec.kind == "gauge":
            series[spec.name] = labels
        else:
            series.update({spec.name + "_sum": labels, spec.name + "_count": labels})
            series[spec.name + "_bucket"] = labels | {"le"}
    for family in registry.collect():  # process_*, python_* from the default collectors
        for sample in family.samples:
            if not sample.name.startswith("smsgw_"):
                series[sample.name] = series.get(sample.name, frozenset()) | set(sample.labels)
    return {name: labels | SCRAPE_LABELS for name, labels in series.items()}


KNOWN = known_series()


# --- a small PromQL reader: enough to find selectors and their matchers ---------------------

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>\d+(?:ms|s|m|h|d|w|y)\b)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<variable>\$\{?\w+\}?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){},=<>!])
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


@dataclass
class Selector:
    metric: str
    labels: set[str] = field(default_factory=set)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        assert match is not None, f"cannot read PromQL at {expr[position:]!r}"
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def selectors(expr: str) -> list[Selector]:
    """Every metric selector in `expr`, with the label names its matchers use."""
    tokens, found, i = tokenize(expr), [], 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in _GROUPING and following == "(":
            i = tokens.index(("op", ")"), i) + 1  # skip the label list
            continue
        if kind == "ident" and following != "(" and text not in _KEYWORDS | _AGGREGATIONS:
            selector = Selector(text)
            found.append(selector)
            if following == "{":
                i = read_matchers(tokens, i + 2, selector)
                continue
        assert (kind, text) != ("op", "{"), f"selector without a metric name in {expr!r}"
        i += 1
    return found


def read_matchers(tokens: list[tuple[str, str]], i: int, selector: Selector) -> int:
    """Collect label names from `{name op "value", ...}`; return the index after `}`."""
    while tokens[i] != ("op", "}"):
        kind, text = tokens[i]
        if kind == "ident":
            assert tokens[i + 1][1] in {"=", "!=", "=~", "!~"}, tokens[i : i + 3]
            assert tokens[i + 2][0] == "string", tokens[i : i + 3]
            selector.labels.add(text)
            i += 3
        else:
            assert tokens[i] == ("op", ","), tokens[i]
            i += 1
    return i + 1


def check_expression(expr: str, where: str) -> list[str]:
    """Problems with one expression: unknown metrics, or matchers on labels it lacks."""
    problems, found = [], selectors(expr)
    if not found:
        problems.append(f"{where}: no metric selected in {expr!r}")
    for selector in found:
        labels = KNOWN.get(selector.metric)
        if labels is None:
            problems.append(f"{where}: {selector.metric} is not defined in gateway/ops/metrics.py")
        elif not selector.labels <= labels:
            problems.append(f"{where}: {selector.metric} has no label {selector.labels - labels}")
    return problems


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum by (carrier, le) (rate(a_bucket{x="1"}[5m]))', [("a_bucket", {"x"})]),
        ("x and on (y) group_left (z) w offset 1d", [("x", set()), ("w", set())]),
        ("max without (a) (y) / count(z)", [("y", set()), ("z", set())]),
        ('histogram_quantile(0.9, b) > bool 3 unless c{d!~"$v"}', [("b", set()), ("c", {"d"})]),
    ],
)
def test_promql_reader_finds_selectors(expr: str, expected: list[tuple[str, set[str]]]) -> None:
    assert [(s.metric, s.labels) for s in selectors(expr)] == expected


def test_promql_reader_reports_unknown_metrics_and_labels() -> None:
    problems = check_expression('smsgw_nope_total + smsgw_bind_up{colour="red"}', "t")
    assert len(problems) == 2


# --- Prometheus ------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(OPS / "prometheus" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_are_complete_and_named_uniquely() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_required_alerts_exist() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "SmsgwBindDown",
        "SmsgwDeliveryRateDrop",
        "SmsgwQueueBacklogGrowing",
        "SmsgwReceiptLag",
    } <= names


def test_alert_expressions_use_only_defined_metrics() -> None:
    problems = [p for r in alert_rules() for p in check_expression(r["expr"], r["alert"])]
    assert problems == []


def test_alert_templates_use_labels_that_the_expression_keeps() -> None:
    for rule in alert_rules():
        used = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
        kept = grouping_labels(rule["expr"])
        assert used <= kept, (rule["alert"], used - kept)


def grouping_labels(expr: str) -> set[str]:
    """Labels an alert's result carries: `by (...)` lists, or all of a bare selector's labels."""
    by = re.findall(r"\bby \(([^)]*)\)", expr)
    if by:
        return {label.strip() for group in by for label in group.split(",")}
    return set().union(*(KNOWN[s.metric] for s in selectors(expr)))


def test_promtool_unit_tests_cover_real_alerts() -> None:
    tests = load_yaml(OPS / "prometheus" / "alerts_test.yml")
    assert tests["rule_files"] == ["alerts.yml"]
    names = {rule["alert"] for rule in alert_rules()}
    tested = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"]}
    assert tested <= names


def prometheus_config() -> Any:
    return load_yaml(OPS / "prometheus" / "prometheus.yml")


# --- compose ---------------------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    data = load_yaml(ROOT / "docker-compose.yml")
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def exposed(service: str) -> set[int]:
    return {int(port) for port in services()[service].get("expose", [])}


def mounts(service: str) -> Iterator[tuple[str, str, str]]:
    """(source, target, mode) for each short-syntax volume of a service."""
    for volume in services()[service].get("volumes", []):
        source, target, *mode = volume.split(":")
        yield source, target, mode[0] if mode else "rw"


def mounted_source(service: str, container_path: str) -> Path:
    """The repo path that the bind mounts of `service` show at `container_path`.

    The deepest mount wins, as in the container (a file mounted over a mounted directory).
    """
    matches = [
        (source, target)
        for source, target, _ in mounts(service)
        if source.startswith("./")
        and (container_path == target or container_path.startswith(target.rstrip("/") + "/"))
    ]
    assert matches, f"{service}: nothing mounted at {container_path}"
    source, target = max(matches, key=lambda match: len(match[1]))
    return (ROOT / source / Path(container_path).relative_to(target)).resolve()


def default_services() -> set[str]:
    """The services `docker compose up` starts: those outside any profile."""
    return {name for name, service in services().items() if not service.get("profiles")}


def one_shot(name: str) -> bool:
    restart: object = services()[name].get("restart")
    return restart == "no"


CLUSTER_NODES = {f"redis-node-{n}" for n in range(1, 7)}
CLUSTER_SERVICES = CLUSTER_NODES | {"redis-cluster-create", "simulator-cluster", "smsgw-cluster"}


def test_compose_has_the_five_services_by_default() -> None:
    assert default_services() == {"redis", "smsgw", "simulator", "prometheus", "grafana"}


def test_cluster_profile_has_six_redis_nodes_and_a_one_shot_create() -> None:
    profiled = {name for name in services() if name not in default_services()}
    assert profiled == CLUSTER_SERVICES
    for name in profiled:
        assert services()[name]["profiles"] == ["cluster"], name
    for name in CLUSTER_NODES:
        command = services()[name]["command"]
        options = dict(zip(command[1::2], command[2::2], strict=True))
        assert options["--cluster-enabled"] == "yes", name
        assert options["--appendonly"] == "yes", name
        assert options["--cluster-announce-hostname"] == name
        assert {"6379", "16379"} <= set(services()[name]["expose"]), name
        assert services()[name]["image"] == services()["redis"]["image"]
    create = services()["redis-cluster-create"]
    assert one_shot("redis-cluster-create")
    script = " ".join(create["command"])
    assert "--cluster create" in script
    assert "--cluster-replicas 1 --cluster-yes" in script
    assert "for n in 1 2 3 4 5 6" in script
    assert create["depends_on"] == {
        name: {"condition": "service_healthy"} for name in sorted(CLUSTER_NODES)
    }


def test_cluster_nodes_have_fixed_addresses_on_the_cluster_network() -> None:
    """Each node keeps the others' addresses in its nodes.conf: they must not change on `up`."""
    (subnet,) = (c["subnet"] for c in compose()["networks"]["redis-cluster"]["ipam"]["config"])
    network = ipaddress.ip_network(subnet)
    addresses = set()
    for name in CLUSTER_NODES:
        (attached,) = services()[name]["networks"].items()
        assert attached[0] == "redis-cluster", name
        addresses.add(ipaddress.ip_address(attached[1]["ipv4_address"]))
    assert len(addresses) == len(CLUSTER_NODES)
    assert all(address in network for address in addresses)
    assert services()["redis-cluster-create"]["networks"] == ["redis-cluster"]


def test_cluster_gateways_use_the_cluster_and_their_own_simulator() -> None:
    gateway = services()["smsgw-cluster"]
    assert gateway["command"] == ["run", "--config", "/etc/smsgw/smsgw.yaml"]
    assert mounted_source("smsgw-cluster", "/etc/smsgw/smsgw.yaml") == (
        OPS / "docker" / "smsgw-cluster.yaml"
    )
    assert "SMSGW_REDIS_URL" not in gateway["environment"]  # the file's redis_url applies
    assert gateway["deploy"]["replicas"] >= 2
    assert set(gateway["networks"]) == {"default", "redis-cluster"}
    assert gateway["depends_on"] == {
        "redis-cluster-create": {"condition": "service_completed_successfully"},
        "simulator-cluster": {"condition": "service_healthy"},
    }
    assert "ports" not in gateway  # replicas cannot share a published port
    settings = load_settings(OPS / "docker" / "smsgw-cluster.yaml", environ={})
    assert settings.redis_cluster
    assert settings.streams.shards == 6
    redis_url = urlsplit(settings.redis_url)
    assert redis_url.hostname in CLUSTER_NODES
    assert redis_url.port in exposed(redis_url.hostname)
    assert settings.ops.port in exposed("smsgw-cluster")
    for carrier in settings.carriers:
        assert carrier.host == "simulator-cluster", carrier.name
        assert carrier.port in exposed(carrier.host), carrier.name
    simulator = services()["simulator-cluster"]
    assert simulator["command"] == services()["simulator"]["command"]
    assert simulator["volumes"] == services()["simulator"]["volumes"]
    assert "ports" not in simulator


def test_gateway_and_simulator_commands_and_environment() -> None:
    smsgw, simulator = services()["smsgw"], services()["simulator"]
    assert smsgw["command"] == ["run", "--config", "/etc/smsgw/smsgw.yaml"]
    assert simulator["command"] == ["simulator", "--config", "/etc/smsgw/simulator.yaml"]
    assert smsgw["environment"]["SMSGW_REDIS_URL"] == "redis://redis:6379/0"
    redis_url = urlsplit(smsgw["environment"]["SMSGW_REDIS_URL"])
    assert redis_url.hostname in services()
    assert redis_url.port in exposed(redis_url.hostname)
    for service in (smsgw, simulator):
        assert service["build"] == "."
        assert service["image"] == smsgw["image"]


def test_config_is_mounted_read_only_with_docker_overlays_for_the_commands() -> None:
    for name, config, overlay in (
        ("smsgw", "smsgw.yaml", "smsgw.yaml"),
        ("simulator", "simulator.yaml", "simulator.yaml"),
        ("smsgw-cluster", "smsgw.yaml", "smsgw-cluster.yaml"),
        ("simulator-cluster", "simulator.yaml", "simulator.yaml"),
    ):
        assert ("./config", "/etc/smsgw", "ro") in set(mounts(name))
        assert mounted_source(name, "/etc/smsgw/countries") == ROOT / "config" / "countries"
        assert mounted_source(name, f"/etc/smsgw/{config}") == OPS / "docker" / overlay
        assert (ROOT / "config" / config).is_file()


# Keys a Docker overlay may change: container listen addresses and peers' service names (and
# for the cluster profile's gateways, what puts them on Redis Cluster).
OVERLAY_CHANGES: dict[str, dict[tuple[str, ...], object]] = {
    "smsgw.yaml": {("ops", "host"): "0.0.0.0", ("carriers", "*", "host"): None},
    "simulator.yaml": {("host",): "0.0.0.0", ("control_host",): "0.0.0.0"},
    "smsgw-cluster.yaml": {
        ("ops", "host"): "0.0.0.0",
        ("carriers", "*", "host"): "simulator-cluster",
        ("redis_url",): "redis://redis-node-1:6379/0",
        ("redis_cluster",): True,
        ("streams", "shards"): 6,
        ("redis_wait", "replicas"): 1,
        ("redis_cluster_nodes",): ["redis-node-2:6379", "redis-node-3:6379"],
    },
}
# The repo config each overlay mirrors.
OVERLAY_OF = {"smsgw.yaml": "smsgw.yaml", "simulator.yaml": "simulator.yaml",
              "smsgw-cluster.yaml": "smsgw.yaml"}  # fmt: skip


def without_overlay_keys(data: Any, config: str, path: tuple[str, ...] = ()) -> Any:
    """`data` with every key the overlay of `config` may change replaced by a marker."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            here = (*path, key)
            changeable = any(
                len(pattern) == len(here)
                and all(p in ("*", h) for p, h in zip(pattern, here, strict=True))
                for pattern in OVERLAY_CHANGES[config]
            )
            out[key] = "<overlay>" if changeable else without_overlay_keys(value, config, here)
        return out
    if isinstance(data, list):
        return [without_overlay_keys(item, config, (*path, "*")) for item in data]
    return data


@pytest.mark.parametrize("config", sorted(OVERLAY_OF))
def test_docker_overlays_match_the_repo_config_except_container_hosts(config: str) -> None:
    repo = load_yaml(ROOT / "config" / OVERLAY_OF[config])
    overlay = load_yaml(OPS / "docker" / config)
    assert without_overlay_keys(overlay, config) == without_overlay_keys(repo, config), (
        f"ops/docker/{config} drifted from config/{config}: copy the change over"
    )
    for path, expected in OVERLAY_CHANGES[config].items():
        if expected is not None:
            node = overlay
            for key in path:
                node = node[key] if key != "*" else node[0]
            assert node == expected, path


def test_docker_overlays_load_and_wire_services_together() -> None:
    settings = load_settings(OPS / "docker" / "smsgw.yaml", environ={})
    simulator = load_simulator_config(OPS / "docker" / "simulator.yaml")
    assert settings.ops.enabled
    assert settings.ops.port in exposed("smsgw")
    assert f"smsgw:{settings.ops.port}" in scrape_targets()
    assert simulator.port in exposed("simulator")
    assert simulator.control_port in exposed("simulator")
    assert f"simulator:{simulator.control_port}" in scrape_targets()
    for carrier in settings.carriers:
        assert carrier.host in services(), f"carrier {carrier.name}: {carrier.host} is no service"
        assert carrier.port in exposed(carrier.host), carrier.name


def test_every_bind_mount_source_exists_in_the_repo() -> None:
    named = set(compose().get("volumes") or {})
    for name in services():
        for source, _, mode in mounts(name):
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
                assert mode == "ro", f"{name}: {source} should be read-only"
            else:
                assert source in named, f"{name}: volume {source} is not declared"


def test_published_ports_are_loopback_and_exposed() -> None:
    for name, service in services().items():
        for mapping in service.get("ports", []):
            host, host_port, container_port = mapping.split(":")
            assert host == "127.0.0.1", f"{name}: {mapping} must publish on loopback"
            assert int(container_port) in exposed(name), f"{name}: {container_port} not exposed"
            assert host_port == container_port


def test_depends_on_names_services_with_healthchecks_when_waiting_for_health() -> None:
    for name, service in services().items():
        for other, condition in (service.get("depends_on") or {}).items():
            assert other in services(), f"{name} depends on unknown {other}"
            if condition["condition"] == "service_healthy":
                assert has_healthcheck(other), f"{name} waits for {other}'s missing healthcheck"


def has_healthcheck(name: str) -> bool:
    service = services()[name]
    return "healthcheck" in service or service.get("build") == "."  # Dockerfile HEALTHCHECK


def test_every_service_has_a_healthcheck_on_a_port_it_exposes() -> None:
    for name, service in services().items():
        if one_shot(name):
            continue  # runs once and exits: nothing to be healthy
        assert has_healthcheck(name), name
        if "healthcheck" in service:
            test = " ".join(service["healthcheck"]["test"])
            port = re.search(r"127\.0\.0\.1:(\d+)", test)
            assert port is None or int(port.group(1)) in exposed(name), name
        else:
            url = urlsplit(service["environment"]["SMSGW_HEALTHCHECK_URL"])
            assert (name.removesuffix("-cluster"), url.path) in {
                ("smsgw", "/healthz"),
                ("simulator", "/metrics"),
            }
            assert url.hostname == "127.0.0.1"
            assert url.port in exposed(name), name


def scrape_targets() -> set[str]:
    jobs = prometheus_config()["scrape_configs"]
    return {t for job in jobs for sc in job["static_configs"] for t in sc["targets"]}


def test_prometheus_scrapes_compose_services_on_exposed_ports() -> None:
    targets = scrape_targets()
    assert targets == {"smsgw:9100", "simulator:9200"}
    for target in targets:
        host, port = target.split(":")
        assert int(port) in exposed(host), target


def test_prometheus_reads_the_mounted_config_and_rules() -> None:
    command = services()["prometheus"]["command"]
    config_file = next(c.split("=", 1)[1] for c in command if c.startswith("--config.file="))
    assert mounted_source("prometheus", config_file) == OPS / "prometheus" / "prometheus.yml"
    for rule_file in prometheus_config()["rule_files"]:
        assert mounted_source("prometheus", rule_file) == OPS / "prometheus" / "alerts.yml"


def test_grafana_provisioning_points_at_prometheus_and_the_mounted_dashboards() -> None:
    provisioning = OPS / "grafana" / "provisioning"
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    url = urlsplit(datasource["url"])
    assert url.hostname == "prometheus"
    assert url.port in exposed("prometheus")
    assert mounted_source("grafana", "/etc/grafana/provisioning") == provisioning
    (provider,) = load_yaml(provisioning / "dashboards" / "smsgw.yml")["providers"]
    folder = mounted_source("grafana", provider["options"]["path"])
    assert (folder / "smsgw.json").is_file()
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted_source("grafana", home) == OPS / "grafana" / "dashboards" / "smsgw.json"


def test_no_secret_is_written_into_compose() -> None:
    password = services()["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD")


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    kept = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    text = re.sub(r"\\\n", " ", kept)
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in text.splitlines()
        if line.strip()
    ]


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_dockerfile_builds_on_python_311_slim_and_runs_smsgw_as_non_root() -> None:
    bases = [args.split()[0] for op, args in dockerfile() if op == "FROM"]
    assert bases
    assert all(base == "python:3.11-slim" for base in bases)
    stage = dict(final_stage())
    assert stage["USER"].split(":")[0] not in {"root", "0"}
    assert json.loads(stage["ENTRYPOINT"]) == ["smsgw"]
    assert json.loads(stage["CMD"]) == ["run", "--config", "/etc/smsgw/smsgw.yaml"]
    assert "import uvloop" in " ".join(args for op, args in final_stage() if op == "RUN")
    assert {"9100", "9200", "2775"} <= set(stage["EXPOSE"].split())


def test_dockerfile_healthcheck_hits_healthz() -> None:
    stage = dict(final_stage())
    assert "SMSGW_HEALTHCHECK_URL" in stage["HEALTHCHECK"]
    env = dict(
        item.split("=", 1)
        for op, args in final_stage()
        if op == "ENV"
        for item in shlex.split(args)
    )
    url = urlsplit(env["SMSGW_HEALTHCHECK_URL"])
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", 9100, "/healthz")


def test_dockerfile_copies_only_what_exists_and_is_not_dockerignored() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for op, args in dockerfile():
        if op == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source not in ignored, source
    for package in ("common", "gateway", "routing", "compliance", "simulator"):
        assert any(op == "COPY" and args.startswith(package) for op, args in dockerfile())


# --- Grafana dashboard -----------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data = json.loads((OPS / "grafana" / "dashboards" / "smsgw.json").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def panel_targets() -> Iterator[tuple[str, str]]:
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] == "smsgw-overview"
    assert board["title"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        columns, rows = range(pos["x"], pos["x"] + pos["w"]), range(pos["y"], pos["y"] + pos["h"])
        area = {(x, y) for x in columns for y in rows}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"


def test_dashboard_queries_use_only_defined_metrics_and_labels() -> None:
    problems = [p for title, expr in panel_targets() for p in check_expression(expr, title)]
    assert problems == []


def test_dashboard_variables_query_defined_labels() -> None:
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
        assert match is not None, variable["definition"]
        metric, label = match.groups()
        assert label in KNOWN[metric], variable["name"]


def test_dashboard_covers_what_operators_watch() -> None:
    exprs = "\n".join(expr for _, expr in panel_targets())
    for needle in (
        "smsgw_message_events_total",  # throughput and delivery rate
        "sum by (country) (increase(smsgw_message_events_total",  # delivery rate by country
        "sum by (carrier) (increase(smsgw_message_events_total",  # delivery rate by carrier
        "histogram_quantile(0.99, sum by (carrier, le) (rate(smsgw_submit_latency_seconds_bucket",
        "smsgw_queue_wait_seconds_bucket",
        "smsgw_delivery_latency_seconds_bucket",
        "smsgw_bind_up",
        "smsgw_queue_depth",
        "smsgw_queue_consumer_lag",
    ):
        assert needle in exprs, needle


# --- docs ------------------------------------------------------------------------------------


def test_metrics_reference_lists_every_metric() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    registry = CollectorRegistry()
    gateway = GatewayMetrics(registry, carriers=["acme"], version="t", process_collectors=False)
    simulator = SimulatorMetrics(CollectorRegistry(), version="t")
    for spec in (*gateway.specs, *simulator.specs):
        name = spec.name + ("_total" if spec.kind == "counter" else "")
        assert f"`{name}`" in text, name
