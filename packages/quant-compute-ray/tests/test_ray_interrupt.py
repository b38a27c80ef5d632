"""Ctrl-C or SIGTERM of the driver: the run's sleeve actors and tasks are cancelled, the run and its
sleeves are recorded as failed (interrupted), and resuming the run finishes it.

The driver is a separate process joined to the session's Ray by RAY_ADDRESS (a signal must reach a
driver's main thread); its sleeves hold in `test.hold` until the test lets them go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from quant_core import QuantSDK

#: Generous: on a loaded 2-core machine a driver process imports, joins Ray and starts actors slowly.
WAIT_S = 180.0

DRIVER = textwrap.dedent(
    '''
    import json, os, sys, time
    from pathlib import Path

    import quant_compute_ray
    from quant_compute_ray import RunInterrupted
    from quant_compute_ray.executor import factory
    from quant_core import QuantSDK, SelectionContext, SleeveSpec
    from quant_core.pipeline import FanOutStep, PipelineSpec
    from quant_core.profiles import ResolvedProfile
    from quant_core.stage import Stage, StageParams
    from quant_core.testing import ToyProfiles, toy_profiles, toy_registry

    home, folder, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


    class Hold(Stage[SelectionContext]):
        """Writes <folder>/<run id>.pid, then waits for <folder>/release."""

        id = "test.hold"
        context_type = SelectionContext

        class Params(StageParams):
            folder: str = ""

        def execute(self, context):
            folder = Path(self.params.folder)
            (folder / f"{context.run_id}.pid").write_text(str(os.getpid()))
            while not (folder / "release").exists():
                time.sleep(0.05)
            return context.model_copy(update={"params": {**context.params, "held": True}})


    registry = toy_registry()
    registry.register(Hold)
    registry.register_pipeline(PipelineSpec.of("held.portfolio", "toy.seed", "test.hold", "toy.scale", "toy.sum"))
    registry.register_pipeline(
        PipelineSpec.of("held.meta", FanOutStep(pipeline="held.portfolio"), "toy.meta_total", context_kind="meta")
    )
    registry.register_executor("ray", factory)
    profiles = toy_profiles()
    # each sleeve its own seed: no sleeve is served from a twin's cache entry (alpha and gamma
    # share a profile), so each held sleeve computed its first step itself
    sleeves = [
        SleeveSpec(
            name=s.name, profile=s.profile,
            stage_params={"test.hold": {"folder": str(folder)}, "toy.seed": {"n": 3 + index}},
        )
        for index, s in enumerate(profiles.profiles["trio"].sleeves)
    ]
    profiles.profiles["held_trio"] = ResolvedProfile(name="held_trio", kind="meta", sleeves=sleeves)
    sdk = QuantSDK(home=home, registry=registry, profiles=profiles, versions={})


    def running(pid):
        """Alive and not a zombie waiting for its parent (Linux /proc)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"


    try:
        if mode == "run":
            result = sdk.run_pipeline("held.meta", profile="held_trio", run_id="held", executor="ray")
        else:
            result = sdk.resume("held", executor="ray")
    except RunInterrupted as interrupted:
        pids = [int(p.read_text()) for p in folder.glob("*.pid")]
        deadline = time.monotonic() + 60
        while any(running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        print(json.dumps({"outcome": "interrupted", "message": str(interrupted), "held_pids": pids,
                          "still_running": [pid for pid in pids if running(pid)]}))
        sys.exit(130)
    print(json.dumps({"outcome": result.status, "weights": result.context.meta_weights, "hits": result.cache_hits}))
    '''
)


def _driver(tmp_path: Path, ray_address: str, mode: str) -> subprocess.Popen:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    environ = {**os.environ, "RAY_ADDRESS": ray_address}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "home"), str(tmp_path / "held"), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
        # The test sends SIGINT as a user's Ctrl-C: the driver must not inherit an ignored SIGINT
        # (a test run started in the background without job control ignores it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_held_sleeves(folder: Path, count: int, driver: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while len(list(folder.glob("*.pid"))) < count:
        if driver.poll() is not None:
            pytest.fail(f"the driver ended before its sleeves held: {driver.communicate()}")
        if time.monotonic() > deadline:
            driver.kill()
            pytest.fail(f"no {count} held sleeves after {WAIT_S} s: {driver.communicate()}")
        time.sleep(0.1)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_an_interrupted_driver_cancels_its_sleeves_and_the_run_resumes(tmp_path, ray_address, signal_name):
    (tmp_path / "held").mkdir()
    driver = _driver(tmp_path, ray_address, "run")
    # two CPUs: two sleeves hold in their actors, the third actor waits for a CPU
    _wait_for_held_sleeves(tmp_path / "held", 2, driver)
    driver.send_signal(getattr(signal, signal_name))
    out, err = driver.communicate(timeout=WAIT_S)

    assert driver.returncode == 130, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["outcome"] == "interrupted"
    assert report["message"].startswith(f"interrupted by {signal_name}: the run's outstanding Ray tasks and sleeve actors were cancelled")
    assert len(report["held_pids"]) == 2 and report["still_running"] == []

    sdk = QuantSDK(home=tmp_path / "home")
    parent = sdk.record("held").read_manifest()
    assert parent.status == "failed" and parent.error.startswith(f"RunInterrupted: interrupted by {signal_name}")
    held = [p.stem for p in (tmp_path / "held").glob("*.pid")]
    for run_id in held:
        sleeve = sdk.record(run_id).read_manifest()
        assert sleeve.status == "failed" and f"interrupted by {signal_name}" in sleeve.error
        assert [(e.stage_id, e.status) for e in sdk.record(run_id).read_ledger()] == [("toy.seed", "succeeded")]
    assert not sdk.record("held").read_ledger()  # the fan-out never finished: no line for it

    if signal_name == "SIGINT":
        return
    (tmp_path / "held" / "release").write_text("go")
    resumed = _driver(tmp_path, ray_address, "resume")
    out, err = resumed.communicate(timeout=WAIT_S)
    assert resumed.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["outcome"] == "succeeded" and set(report["weights"]) == {"alpha", "beta", "gamma"}
    manifest = sdk.record("held").read_manifest()
    assert (manifest.status, manifest.invocations) == ("succeeded", 2)
    for run_id in held:  # what finished before the interrupt came from the cache
        seed = [e for e in sdk.record(run_id).read_ledger() if e.stage_id == "toy.seed"]
        assert [e.cache_hit for e in seed] == [False, True]
