#!/bin/sh
# Modes: jobmanager | taskmanager (the Flink session cluster from the PyFlink wheel's own
# distribution, exactly as the test harness runs it) | submit (submit the alerts job once).
set -eu
FLINK_HOME="$(python -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')"
export FLINK_HOME
# FLINK_PROPERTIES (one "key: value" per line) is appended to the configuration, as the
# official Flink image does; the image's config.yaml lives in a writable copy.
mkdir -p "${FLINK_CONF_DIR}"
cp "${FLINK_HOME}/conf/config.yaml" "${FLINK_CONF_DIR}/config.yaml"
cp "${FLINK_HOME}"/conf/log4j*.properties "${FLINK_CONF_DIR}/"
if [ -n "${FLINK_PROPERTIES:-}" ]; then
    printf '\n%s\n' "${FLINK_PROPERTIES}" >> "${FLINK_CONF_DIR}/config.yaml"
fi
case "${1:-}" in
    jobmanager)
        exec "${FLINK_HOME}/bin/jobmanager.sh" start-foreground ;;
    taskmanager)
        exec "${FLINK_HOME}/bin/taskmanager.sh" start-foreground ;;
    submit)
        exec python -m alerts.submit ;;
    *)
        exec "$@" ;;
esac
