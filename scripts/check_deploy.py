"""Cross-checks of the files in deploy/: each says something the others rely on.

Run by scripts/check-deploy, with PyYAML from its virtualenv. Exits non-zero with one line per
disagreement.
"""

import sys
from urllib.parse import urlsplit

import yaml

problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def by_kind(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    if len(found) != 1:
        sys.exit(f"deploy: expected one {kind} {name}, found {len(found)}")
    return found[0]


def port_of(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


# The collector: every component a pipeline or the service names is configured.
with open("deploy/otel-collector/config.yaml", encoding="utf-8") as f:
    collector = yaml.safe_load(f)
service = collector["service"]
for name in service.get("extensions", []):
    check(name in collector.get("extensions", {}), f"collector: extension {name} is not configured")
for pipeline, spec in service["pipelines"].items():
    for section in ("receivers", "processors", "exporters"):
        for name in spec.get(section, []):
            check(
                name in collector.get(section, {}),
                f"collector: pipeline {pipeline} names {section[:-1]} {name}, which is not configured",
            )
    check(spec.get("receivers") and spec.get("exporters"), f"collector: pipeline {pipeline} is incomplete")
check("traces" in service["pipelines"], "collector: no traces pipeline")
check(
    service["pipelines"]["traces"]["processors"][0] == "memory_limiter",
    "collector: memory_limiter must come first in the traces pipeline",
)
otlp = collector["receivers"]["otlp"]["protocols"]
grpc_port = port_of(otlp["grpc"]["endpoint"])
http_port = port_of(otlp["http"]["endpoint"])
health_port = port_of(collector["extensions"]["health_check"]["endpoint"])
telemetry_port = collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"][
    "prometheus"
]["port"]

# The collector's manifests listen where its configuration does.
collector_docs = load_all("deploy/kubernetes/otel-collector.yaml")
deployment = by_kind(collector_docs, "Deployment", "otel-collector")
pod = deployment["spec"]["template"]
container = pod["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
check(ports.get("otlp-grpc") == grpc_port, "otel-collector: container port otlp-grpc differs from the config")
check(ports.get("otlp-http") == http_port, "otel-collector: container port otlp-http differs from the config")
check(ports.get("health") == health_port, "otel-collector: container port health differs from the config")
check(ports.get("metrics") == telemetry_port, "otel-collector: container port metrics differs from the config")
check(
    pod["metadata"]["annotations"]["prometheus.io/port"] == str(telemetry_port),
    "otel-collector: scrape annotation port differs from the collector's telemetry port",
)
check(
    container["args"] == ["--config=/etc/otelcol/config.yaml"]
    and container["volumeMounts"][0]["mountPath"] == "/etc/otelcol",
    "otel-collector: the config is not read from the mounted ConfigMap",
)
collector_service = by_kind(collector_docs, "Service", "otel-collector")
service_ports = {p["port"] for p in collector_service["spec"]["ports"]}
check({grpc_port, http_port} <= service_ports, "otel-collector: the Service does not expose both OTLP ports")

# The quickstart exports to the collector, serves metrics where it is scraped, and is probed on
# the crate's health paths.
quickstart_docs = load_all("deploy/kubernetes/quickstart.yaml")
deployment = by_kind(quickstart_docs, "Deployment", "quickstart")
pod = deployment["spec"]["template"]
container = pod["spec"]["containers"][0]
env = {e["name"]: e["value"] for e in container["env"]}
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
check(endpoint.hostname == "otel-collector", "quickstart: OTLP endpoint is not the collector's Service")
check(
    endpoint.port == (grpc_port if protocol == "grpc" else http_port),
    f"quickstart: OTLP endpoint port {endpoint.port} is not the collector's {protocol} port",
)
check(port_of(env["ADDR"]) == ports["http"], "quickstart: ADDR differs from the http container port")
check(port_of(env["METRICS_ADDR"]) == ports["metrics"], "quickstart: METRICS_ADDR differs from the metrics port")
annotations = pod["metadata"]["annotations"]
check(annotations["prometheus.io/port"] == str(ports["metrics"]), "quickstart: scrape annotation port is wrong")
check(annotations["prometheus.io/path"] == "/metrics", "quickstart: scrape annotation path is wrong")
check(container["livenessProbe"]["httpGet"]["path"] == "/livez", "quickstart: liveness probe is not /livez")
check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", "quickstart: readiness probe is not /readyz")
check(container["startupProbe"]["httpGet"]["path"] == "/readyz", "quickstart: startup probe is not /readyz")
readiness = container["readinessProbe"]
drain_ms = int(env["SHUTDOWN_DRAIN_MS"])
check(
    drain_ms > 1000 * readiness["periodSeconds"] * readiness["failureThreshold"],
    "quickstart: SHUTDOWN_DRAIN_MS does not outlast the readiness probe's period × failureThreshold",
)
check(
    pod["spec"]["terminationGracePeriodSeconds"] * 1000 > drain_ms,
    "quickstart: terminationGracePeriodSeconds does not cover the drain",
)
metrics_service = by_kind(quickstart_docs, "Service", "quickstart-metrics")
check(metrics_service["spec"].get("clusterIP") == "None", "quickstart-metrics: the Service is not headless")
metrics_service_port = metrics_service["spec"]["ports"][0]["port"]

# Prometheus scrapes the headless Service's pods on the metrics port, and loads the SLO rules.
with open("deploy/prometheus/prometheus.yml", encoding="utf-8") as f:
    prometheus = yaml.safe_load(f)
jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
dns = jobs["quickstart-kubernetes"]["dns_sd_configs"][0]
namespace = metrics_service["metadata"]["namespace"]
check(
    dns["names"] == [f"quickstart-metrics.{namespace}.svc.cluster.local"],
    "prometheus: the DNS name is not the headless Service's",
)
check(dns["port"] == metrics_service_port == ports["metrics"], "prometheus: the DNS job scrapes another port")
check(jobs["quickstart"]["static_configs"][0]["targets"] == ["127.0.0.1:9464"], "prometheus: the local job does not scrape the quickstart's default metrics address")
check(prometheus["rule_files"] == ["rules/quickstart-slo.rules.yml"], "prometheus: the SLO rules are not loaded")

for problem in problems:
    print(f"deploy: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print("deploy: collector, manifests and Prometheus configuration agree")
