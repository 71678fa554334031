"""Fetch (once, cached) the Java artifacts the harness runs, as pinned in versions.py."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from iotstack import versions

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = Path(__file__).with_name("pom.xml")
JAVA_HOME_DEFAULT = Path(f"/usr/lib/jvm/java-{versions.JAVA_VERSION}-openjdk-amd64")

# Profiles whose artifacts are self-contained fat jars: never pull their dependencies.
_NO_TRANSITIVE = {"flink-connectors"}


class MissingPrerequisite(RuntimeError):
    """A tool the harness needs is absent; the message says how to install it."""


def cache_dir() -> Path:
    """Where artifacts and service state live (never committed); IOTSTACK_CACHE overrides."""
    path = Path(os.environ.get("IOTSTACK_CACHE", REPO_ROOT / ".cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def java_home() -> Path:
    """The JDK the services run on: $JAVA_HOME, else the Debian OpenJDK of the pinned major."""
    home = Path(os.environ.get("JAVA_HOME") or JAVA_HOME_DEFAULT)
    if not (home / "bin" / "java").exists():
        raise MissingPrerequisite(
            f"Java {versions.JAVA_VERSION} not found at {home}: "
            f"apt-get install openjdk-{versions.JAVA_VERSION}-jdk-headless, or set JAVA_HOME"
        )
    return home


def java() -> str:
    """Path of the java executable."""
    return str(java_home() / "bin" / "java")


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingPrerequisite("Maven (mvn) not found: apt-get install maven")
    return mvn


def resolve(profile: str) -> Path:
    """A directory holding the jars (or zip) of one pom.xml profile, downloaded once."""
    props = versions.maven_properties()
    digest = hashlib.sha256(
        (POM.read_text() + profile + repr(sorted(props.items()))).encode()
    ).hexdigest()[:12]
    dest = cache_dir() / "artifacts" / f"{profile}-{digest}"
    if (dest / ".complete").exists():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    argv = [
        _mvn(),
        "-B",
        "-q",
        "--strict-checksums",
        "-f",
        str(POM),
        "-P",
        profile,
        *(f"-D{key}={value}" for key, value in props.items()),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={dest}",
        f"-DexcludeTransitive={'true' if profile in _NO_TRANSITIVE else 'false'}",
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "JAVA_HOME": str(java_home())}
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"resolving Maven profile {profile!r} failed (exit {done.returncode}):\n"
            + (done.stdout + done.stderr)[-3000:]
        )
    (dest / ".complete").touch()
    return dest


def classpath(profile: str) -> str:
    """A Java class path of every jar of a profile."""
    return os.pathsep.join(sorted(str(p) for p in resolve(profile).glob("*.jar")))


def _extract_keeping_modes(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


def elasticsearch_home() -> Path:
    """The unpacked Elasticsearch distribution (read-only after unpacking)."""
    version = versions.ELASTICSEARCH_VERSION
    home = cache_dir() / "dist" / f"elasticsearch-{version}"
    if (home / ".complete").exists():
        return home
    (zip_path,) = resolve("elasticsearch").glob("elasticsearch-*.zip")
    staging = home.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    _extract_keeping_modes(zip_path, staging)
    (inner,) = [p for p in staging.iterdir() if p.is_dir()]
    shutil.rmtree(home, ignore_errors=True)
    inner.rename(home)
    shutil.rmtree(staging)
    for path in [home, *home.rglob("*")]:  # readable by the unprivileged user ES runs as
        os.chmod(path, path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
    (home / ".complete").touch()
    return home


def flink_home() -> Path:
    """The Flink distribution shipped inside the installed apache-flink wheel."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise MissingPrerequisite(
            f"PyFlink is not installed in {sys.executable}: pip install {versions.PYFLINK_PACKAGE}"
        )
    home = Path(spec.origin).parent
    if not (home / "bin" / "jobmanager.sh").exists():
        raise MissingPrerequisite(f"{home} has no Flink distribution (bin/jobmanager.sh)")
    return home


def fetch_all() -> dict[str, Path]:
    """Download everything up front (CI warms its cache with this)."""
    out = {p: resolve(p) for p in ("kafka-zk", "kafka-kraft", "flink-connectors")}
    out["elasticsearch"] = elasticsearch_home()
    return out
