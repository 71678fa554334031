"""The image's inputs agree with the pins: connector lock, base image, PyFlink pin."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from harness import artifacts
from iotstack import versions

APP = Path(__file__).resolve().parent.parent


def lock_entries() -> list[tuple[str, str, str, str]]:
    lines = (APP / "connectors.lock").read_text().splitlines()
    return [tuple(ln.split()) for ln in lines if ln and not ln.startswith("#")]  # type: ignore[misc]


def test_lock_coordinates_equal_the_pinned_versions() -> None:
    # Only the Kafka connector: the job writes only Kafka (no Elasticsearch connector).
    assert {(g, a, v) for g, a, v, _ in lock_entries()} == {
        ("org.apache.flink", "flink-sql-connector-kafka", versions.FLINK_KAFKA_CONNECTOR_VERSION),
    }


def test_lock_checksums_equal_the_jars_the_harness_runs() -> None:
    jars = {p.name: p for p in artifacts.resolve("flink-connectors").glob("*.jar")}
    # The harness's Flink loads exactly the jars the image bakes in.
    assert set(jars) == {f"{a}-{v}.jar" for _, a, v, _ in lock_entries()}
    for _, artifact, version, sha512 in lock_entries():
        jar = jars[f"{artifact}-{version}.jar"]
        assert hashlib.sha512(jar.read_bytes()).hexdigest() == sha512, jar.name


def test_dockerfile_and_pyproject_use_the_pins() -> None:
    dockerfile = (APP / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={versions.PYTHON_BASE_IMAGE}\n" in dockerfile
    assert "sha512sum -c" in dockerfile and "USER 9999" in dockerfile
    assert f"openjdk-{versions.JAVA_VERSION}-jre-headless" in dockerfile
    pyproject = (APP / "pyproject.toml").read_text()
    assert f'"{versions.PYFLINK_PACKAGE}"' in pyproject
    assert f'"kafka-python=={versions.KAFKA_PYTHON_VERSION}"' in pyproject
    assert not re.search(r'^\s+"elasticsearch', pyproject, re.MULTILINE), (
        "the job and its tests use no Elasticsearch client"
    )
    for dep in re.findall(r'^\s+"([^"]+)",$', pyproject, re.MULTILINE):
        assert "==" in dep, f"{dep} is not pinned exactly"


def test_entrypoint_is_valid_shell_with_the_three_modes() -> None:
    script = APP / "docker-entrypoint.sh"
    subprocess.run(["sh", "-n", str(script)], check=True)
    text = script.read_text()
    for mode in ("jobmanager)", "taskmanager)", "submit)"):
        assert mode in text


def test_the_image_builds_the_java_functions_jar_and_drops_the_jdk() -> None:
    dockerfile = (APP / "Dockerfile").read_text()
    assert "COPY java ./java" in dockerfile
    assert 'sh java/build.sh "$(python -c' in dockerfile and "/alerts-functions.jar" in dockerfile
    jdk = f"openjdk-{versions.JAVA_VERSION}-jdk-headless"
    install = dockerfile.index(f"install -y --no-install-recommends {jdk}")
    build = dockerfile.index("sh java/build.sh")
    purge = dockerfile.index(f"apt-get purge -y {jdk}")
    assert install < build < purge, "the JDK is installed, used and removed in one layer"
    assert dockerfile[install:purge].count("\nRUN ") == 0


def test_the_job_refuses_to_start_without_its_java_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alerts import job

    missing = tmp_path / "alerts-functions.jar"
    monkeypatch.setattr(job, "FUNCTIONS_JAR", missing)
    monkeypatch.setenv("READINGS_TOPIC", "readings")
    assert job.main() == 2
    err = capsys.readouterr().err
    assert (f"alerts job: {missing} is missing: build it with apps/alerts/java/build.sh "
            f"{missing}") in err


def test_the_built_jar_holds_the_rules_and_validation_functions() -> None:
    from alerts.sql_rules import SENSOR_RULES_CLASS
    from alerts.validation import CHECK_READING_CLASS, EVENT_TIME_CLASS
    from alerts_helpers import functions_jar

    with zipfile.ZipFile(functions_jar()) as jar:
        names = set(jar.namelist())
    for java_class in (SENSOR_RULES_CLASS, CHECK_READING_CLASS, EVENT_TIME_CLASS):
        assert java_class.replace(".", "/") + ".class" in names


def test_a_locally_built_jar_is_not_part_of_the_image_context() -> None:
    from alerts_helpers import functions_jar
    from iotstack import images

    built = functions_jar().relative_to(APP)
    assert (APP / built).is_file()
    files = set(images.context_files(APP))
    assert built not in files, "a test build would change the image's content tag"
    assert Path("java/src/io/iotstack/alerts/SensorRules.java") in files
