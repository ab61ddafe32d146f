"""Sizing the deployment, and ``--executor ray`` without Ray installed (no Ray instance needed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bridge.daemon.ray_executor import RAY_EXTRA, RayConfig, deployment_options


@pytest.mark.parametrize(
    ("resources", "config", "replicas", "actor"),
    [
        ({"CPU": 16.0}, RayConfig(), 1, {"num_cpus": 1.0}),
        ({"CPU": 16.0}, RayConfig(replicas=3, cpus_per_replica=2), 3, {"num_cpus": 2}),
        # Two GPU nodes: one replica per GPU, each holding a whole GPU.
        ({"CPU": 32.0, "GPU": 2.0}, RayConfig(), 2, {"num_gpus": 1.0, "num_cpus": 1.0}),
        ({"CPU": 32.0, "GPU": 4.0}, RayConfig(gpus_per_replica=0.5), 8,
         {"num_gpus": 0.5, "num_cpus": 1.0}),
        ({"CPU": 32.0, "GPU": 4.0}, RayConfig(replicas=2), 2, {"num_gpus": 1.0, "num_cpus": 1.0}),
    ],
)  # fmt: skip
def test_deployment_options(resources, config, replicas, actor):
    options = deployment_options(RayConfig(**{**vars(config), "max_queued": 7}), resources)
    assert options["num_replicas"] == replicas
    assert options["ray_actor_options"] == actor
    assert options["max_ongoing_requests"] == 1 and options["max_queued_requests"] == 7


def test_serve_with_ray_executor_without_ray_says_what_to_install(tmp_path):
    """A stand-in ``ray`` package that fails to import, as when the extra is not installed."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n"
    )
    connection = tmp_path / "connection.json"
    out = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", "--executor", "ray", "--connection-file",
         str(connection), "--journal", str(tmp_path / "journal")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 1, out
    assert RAY_EXTRA in out.stderr and out.stderr.startswith("error: "), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not connection.exists() and not (tmp_path / "journal").exists()  # refused up front
