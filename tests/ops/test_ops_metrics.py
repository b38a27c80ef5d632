"""Prometheus metrics over real HTTP: `quant serve-metrics` scraped after runs, a short run pushed
to a Pushgateway-compatible receiver, and the Grafana dashboard querying only exported names."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client", reason="needs quant-core[prometheus]")

from ops_support import QUANT, quant_env  # noqa: E402  (tests/ops, on sys.path)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from quant_cli.app import build_app  # noqa: E402
from quant_core import ProfileCatalog, QuantSDK, SleeveFailureError  # noqa: E402
from quant_core.config import QuantConfig  # noqa: E402
from quant_core.metrics import QuantMetrics  # noqa: E402
from quant_core.telemetry import Telemetry  # noqa: E402
from quant_core.testing import toy_profiles, toy_registry  # noqa: E402

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "quant.json"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def ledger_counts(sdk: QuantSDK) -> Counter:
    """(stage id, status) -> attempts, from every run record: what the metrics must say."""
    return Counter(
        (entry.stage_id, entry.status)
        for manifest in sdk.list_runs()
        for entry in sdk.record(manifest.run_id).read_ledger()
        if not entry.stage_id.startswith("fan_out.")
    )


def test_serve_metrics_shows_the_counts_of_the_runs_after_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sdk = QuantSDK(home=home, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles(("beta",))]),
                   config=QuantConfig.defaults())
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="one")
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="two")

    server = subprocess.Popen(
        [str(QUANT), "serve-metrics", "--port", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=quant_env(home), cwd=tmp_path,
    )
    try:
        lines = []
        while not lines or lines[-1] != "}\n":
            line = server.stdout.readline()
            assert line, f"serve-metrics ended: {server.stderr.read()}"
            lines.append(line)
        url = json.loads("".join(lines))["url"]
        with urllib.request.urlopen(url, timeout=60) as response:
            scraped = samples(response.read().decode())
        # a run made while the exporter is up is in the next scrape
        sdk.run_pipeline("toy.portfolio", profile="large", run_id="three")
        with urllib.request.urlopen(url, timeout=60) as response:
            rescraped = samples(response.read().decode())
    finally:
        server.terminate()
        server.wait(timeout=60)

    def value(found: dict, name: str, **labels: str) -> float:
        return found.get((name, frozenset(labels.items())), 0.0)

    expected = ledger_counts(sdk)
    assert expected[("toy.scale", "failed")] == 1
    for (stage_id, status), count in expected.items():
        assert value(rescraped, "quant_stage_executions_total", stage_id=stage_id, executor="local", status=status) == count
    assert value(scraped, "quant_stage_executions_total", stage_id="toy.seed", executor="local", status="succeeded") == 4
    assert value(rescraped, "quant_stage_executions_total", stage_id="toy.seed", executor="local", status="succeeded") == 5
    assert value(scraped, "quant_sleeves_failed_total", executor="local") == 1
    assert value(scraped, "quant_runs_total", kind="pipeline", executor="local", status="failed") == 2
    assert value(scraped, "quant_runs_total", kind="pipeline", executor="local", status="succeeded") == 3
    hits = value(scraped, "quant_stage_cache_hits_total", stage_id="toy.seed", executor="local")
    misses = value(scraped, "quant_stage_cache_misses_total", stage_id="toy.seed", executor="local")
    assert (hits, misses) == (2, 2)  # "one" computed small; alpha and gamma hit it; beta computed large
    assert value(scraped, "quant_stage_duration_seconds_count", stage_id="toy.sum", executor="local", cache_hit="true") == 2


class PushReceiver:
    """Takes what a Pushgateway would: PUT /metrics/job/<job>/<label>/<value>... with a text body."""

    def __init__(self) -> None:
        self.pushes: list[tuple[str, str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                receiver.pushes.append((self.command, self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_short_cli_run_pushes_its_metrics_when_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = PushReceiver()
    monkeypatch.chdir(tmp_path)

    def factory(home: Any) -> QuantSDK:
        return QuantSDK(home=home, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))

    try:
        result = CliRunner().invoke(
            build_app(factory),
            ["--home", str(tmp_path / "home"), "pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "pushed", "--json"],
            env={"QUANT_METRICS": "1", "QUANT_PUSHGATEWAY_URL": receiver.url, "QUANT_TRACING": None},
        )
    finally:
        receiver.server.shutdown()
    assert result.exit_code == 0, result.output
    ((method, path, body),) = receiver.pushes
    assert method == "PUT" and path.startswith("/metrics/job/quant/instance/") and path.endswith("/run_id/pushed")
    pushed = samples(body)
    for stage in ("toy.seed", "toy.scale", "toy.sum"):
        assert pushed[("quant_stage_executions_total", frozenset({"stage_id": stage, "executor": "local", "status": "succeeded"}.items()))] == 1
    assert pushed[("quant_runs_total", frozenset({"kind": "pipeline", "executor": "local", "status": "succeeded"}.items()))] == 1


def test_a_push_that_fails_is_a_clear_error(tmp_path: Path) -> None:
    telemetry = Telemetry(metrics=QuantMetrics(), pushgateway_url="http://127.0.0.1:9/")  # discard port: refused
    with pytest.raises(Exception, match=r"could not push the metrics to http://127\.0\.0\.1:9/"):
        telemetry.flush(run_id="x")


def dashboard_metric_names() -> set[str]:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in document["panels"] for target in panel["targets"]]
    queries += [v["query"]["query"] for v in document["templating"]["list"] if isinstance(v.get("query"), dict)]
    assert queries
    return {name for query in queries for name in re.findall(r"\bquant_[a-z_]+\b", query)}


def test_every_metric_the_dashboard_queries_is_exported(tmp_path: Path) -> None:
    metrics = QuantMetrics()
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles(("beta",))]),
                   config=QuantConfig.defaults(), telemetry=Telemetry(metrics=metrics))
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="dash")
    exported = {sample.name for family in metrics.registry.collect() for sample in family.samples}
    queried = dashboard_metric_names()
    assert queried - exported == set()
    # and the dashboard covers every family quant exports
    families = {family.name for family in metrics.registry.collect()}
    assert {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in queried} >= families


def test_the_dashboard_is_well_formed() -> None:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    assert {p["title"] for p in document["panels"]} >= {
        "Stage duration p50 / p95 (computed, not cached)", "Stage failure rate by stage", "Cache hit ratio by stage",
        "Runs by executor and outcome",
    }
    for panel in document["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
