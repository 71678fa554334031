#!/bin/sh
# Build the alerts job's Java functions (apps/alerts/java/src) into one jar:
#   build.sh OUT_JAR [FLINK_HOME]
# Compiled against the Flink distribution that runs them (FLINK_HOME, default: the one inside
# the installed PyFlink), so there is no second Flink version to pin and nothing to download.
# Needs a JDK (javac, jar). The Dockerfile and the tests (alerts_helpers.functions_jar) call it.
set -eu
out="$1"
here="$(cd "$(dirname "$0")" && pwd)"
flink_home="${2:-$(python3 -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
find "${here}/src" -name '*.java' | sort > "${work}/sources.txt"
javac --release 11 -encoding UTF-8 -Xlint:all,-serial,-options,-processing -Werror \
    -cp "${flink_home}/lib/*" -d "${work}/classes" "@${work}/sources.txt"
mkdir -p "$(dirname "${out}")"
jar --create --file "${work}/out.jar" -C "${work}/classes" .
mv "${work}/out.jar" "${out}"
