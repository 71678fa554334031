"""A run's containers, networks, volumes and built images are gone at its end, also on
failure.

Each case runs an inner pytest session (a subprocess with its own ``IOTSTACK_RUN_ID``)
whose test creates a container outside the per-test fixture, a volume, a network and an
image, and then fails or is stopped with SIGTERM; afterwards nothing labelled with its run id
may be left, the image it built must be gone, and the image that existed before must still exist.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from docker_e2e import engine

pytestmark = pytest.mark.services

INNER = textwrap.dedent(
    """
    import time
    from pathlib import Path

    from docker_e2e import engine


    def test_creates_then_fails(containers, tmp_path: Path) -> None:
        containers.run("tracked", engine.BASE_IMAGE, {{}}, args=("600",), entrypoint="sleep")
        # Not the per-test fixture: only the session's clean-up can remove these.
        volume = engine.create_volume("{prefix}-vol")
        engine.Containers("{prefix}-untracked").run(
            "c", engine.BASE_IMAGE, {{}}, args=("600",), entrypoint="sleep",
            volumes=(f"{{volume}}:/data",),  # a volume in use until its container goes
        )
        engine.create_network("{prefix}-net")
        (tmp_path / "Dockerfile").write_text("FROM {base}\\nLABEL probe={prefix}\\n")
        assert engine.build_image(tmp_path, "{image}")
        print("CREATED", flush=True)
        if {wait_for_signal}:
            time.sleep(600)  # stopped from outside with SIGTERM
        assert False, "this inner test fails on purpose"
    """
)


def _inner_run(
    tmp_path: Path, *, keep_images: bool = False, terminate: bool = False
) -> tuple[str, str, subprocess.CompletedProcess[str]]:
    """Run the inner session; return (run id, image tag, the finished process)."""
    run_id = f"cleanup-test-{uuid.uuid4().hex[:8]}"
    prefix = f"iotstack-cleanup-{uuid.uuid4().hex[:6]}"
    image = f"iotstack-test/cleanup-probe:{uuid.uuid4().hex[:8]}"
    test_file = tmp_path / "inner" / "test_inner.py"
    test_file.parent.mkdir()
    test_file.write_text(
        INNER.format(prefix=prefix, base=engine.BASE_IMAGE, image=image, wait_for_signal=terminate)
    )
    env = {
        **os.environ,
        "IOTSTACK_RUN_ID": run_id,
        "PYTHONPATH": f"{engine.ROOT / 'tests'}{os.pathsep}{engine.ROOT / 'infra'}",
        "IOTSTACK_KEEP_IMAGES": "1" if keep_images else "0",
    }
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        "-c",
        str(engine.ROOT / "pyproject.toml"),
        "--rootdir",
        str(engine.ROOT),
        "-p",
        "harness.pytest_plugin",
        "-p",
        "docker_e2e.conftest",
        str(test_file),
    ]
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if terminate:
            deadline = time.monotonic() + 300
            assert proc.stdout is not None
            for line in proc.stdout:  # the inner test says when everything exists
                if "CREATED" in line or time.monotonic() > deadline:
                    break
            assert engine.labelled("container", run_id), "the inner run created no container"
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done = subprocess.CompletedProcess(argv, proc.returncode, out, "")
    return run_id, image, done


def _image_exists(tag: str) -> bool:
    return engine.docker("image", "inspect", tag, check=False).returncode == 0


@pytest.fixture
def base_image(docker_engine: None) -> str:
    """The base image exists before the inner runs (so they must not remove it)."""
    return engine.build_base_image()


def test_a_failing_run_leaves_nothing_behind(base_image: str, tmp_path: Path) -> None:
    run_id, image, done = _inner_run(tmp_path)
    assert done.returncode == 1, done.stdout[-4000:]
    assert "CREATED" in done.stdout and "fails on purpose" in done.stdout, done.stdout[-4000:]
    assert engine.labelled("container", run_id) == []
    assert engine.labelled("network", run_id) == []
    assert engine.labelled("volume", run_id) == []
    assert not _image_exists(image), f"{image} built by the failed run is still there"
    assert _image_exists(base_image), "an image that existed before the run was removed"


def test_a_terminated_run_leaves_nothing_behind(base_image: str, tmp_path: Path) -> None:
    run_id, image, done = _inner_run(tmp_path, terminate=True)
    assert done.returncode != 0, done.stdout[-4000:]
    assert engine.labelled("container", run_id) == [], done.stdout[-4000:]
    assert engine.labelled("network", run_id) == []
    assert engine.labelled("volume", run_id) == []
    assert not _image_exists(image), f"{image} built by the stopped run is still there"
    assert _image_exists(base_image)


def test_keep_images_keeps_only_the_images(base_image: str, tmp_path: Path) -> None:
    run_id, image, done = _inner_run(tmp_path, keep_images=True)
    try:
        assert done.returncode == 1, done.stdout[-4000:]
        assert engine.labelled("container", run_id) == []
        assert engine.labelled("network", run_id) == []
        assert engine.labelled("volume", run_id) == []
        assert _image_exists(image), "IOTSTACK_KEEP_IMAGES=1 should keep the built image"
    finally:
        engine.docker("rmi", image, check=False)
