"""Every version the stack depends on, and the rules that tie them together.

This module is the single list of pins for images, Java artifacts (resolved by
``tests/harness/pom.xml``) and the Python packages that must agree with the
servers. It imports nothing outside the standard library, so the Pulumi
program, the test harness and the app builds can all read it.

Why these versions fit together (checked by :func:`check_compatibility`):

* The alerts job (Flink) writes only Kafka; a separate Python service, the indexer
  (apps/dashboard), ships its ``alerts`` and ``readings-1m`` topics into Elasticsearch.
  So Flink loads one connector, ``flink-sql-connector-kafka`` 5.0.0-2.2, released for the
  Flink 2.2 line (:data:`CONNECTOR_RUNS_ON` records where each connector line is known to
  run, and how that was learnt). Why no Elasticsearch connector in Flink: the Maven registry
  reachable from this project's build machines is a *partial* mirror of Maven Central, so
  a 404 there does not mean "not published". On Central there are
  ``flink-sql-connector-elasticsearch7`` 3.1.0-1.19, 3.1.0-1.20 and 4.0.0-2.0 and
  ``flink-connector-elasticsearch8`` 3.1.0 (DataStream API only, no SQL connector), none
  of them served by that mirror (it serves 3.0.1-1.17, built for Flink 1.17); and no
  released Elasticsearch connector exists for Flink 2.1 or later. That is why the job
  writes only Kafka: an Elasticsearch sink in Flink would hold Flink to a line with a
  released (and here reachable) Elasticsearch connector; now only the Kafka connector and
  PyFlink constrain it.
* Flink 2.2.1, the newest patch of the line the connector is released for (issue 15 moved
  the job from 1.19.3). 2.3.0 also runs the job with this connector (measured, see
  :data:`CONNECTOR_RUNS_ON`), but 2.2 is the line the connector's maintainers release it
  for, and 2.2.1 is a patch release where 2.3.0 is the first of its line. PyFlink 2.2
  publishes cp39-cp312 wheels (manylinux x86_64, no Linux aarch64), and the job's 42 tests
  pass with PyFlink 2.2.1 on CPython 3.12.1 (measured for issue 15; grpc prints an ignored
  atexit error at interpreter exit), so 3.12 is possible; our images and CI use 3.11 (the
  whole repo moves Python at once, not this pin). PyFlink 2.x depends on
  ``apache-flink-libraries`` of the same version, published as a wheel (1.x had only an
  sdist).
* Elasticsearch is 8.19, the last 8.x minor (7.17 reached end of life on 2026-01-15).
  It was 7.17 for a Flink connector (its 7.10 REST client cannot parse an 8.x server's bulk
  responses) that the stack no longer runs; the server's version binds only the Python
  ``elasticsearch`` client and Kibana. Kibana must equal Elasticsearch. Elastic documents
  the language clients as *forward compatible*: a client works with servers of its major
  and an equal or greater minor, and a newer minor's features need that minor's client
  (https://www.elastic.co/guide/en/elasticsearch/client/python-api/8.x/overview.html,
  "Compatibility"); another major is refused (an 8.x client sends ``compatible-with=8``,
  which a 7.x server rejects). So the client's major must equal the server's and its minor
  must not be newer; the pin takes the server's own minor, the newest 8.19 client (8.19.3).
  8.19 runs on Java 17 (the integ-test zip bundles no JDK); 9.x would need Java 21, and the
  Maven repository reachable here serves no 9.x integ-test zip.
* Kafka 3.9 is the last line that runs with ZooKeeper (the default mode); 4.x is
  KRaft only. Both run on Java 17. Every pinned Kafka must contain the fix for KAFKA-19012
  (CVE-2026-35554: the Java producer could write records to the wrong topic after a batch
  expired or a broker disconnected), which came in 3.9.2, 4.0.2, 4.1.2 and 4.2.0
  (:data:`KAFKA_19012_FIXED_IN`). So ZooKeeper mode is 3.9.2. The ASF's ``apache/kafka``
  image runs KRaft only (KAFKA-16453), so the ZooKeeper-mode broker is Confluent's community
  ``cp-kafka``, whose maintainers document ZooKeeper mode; Confluent Platform 7.9.x ships
  Apache Kafka 3.9.x, and 7.9.6 is the first patch that contains the 3.9.2 release and the
  fix (:data:`CONFLUENT_KAFKA`: a cp-kafka patch must *contain* KAFKA_ZK_VERSION; it is a
  Confluent build of Apache's branch plus its own commits, never the Apache release
  itself). ZooKeeper stays the Docker official ``zookeeper`` image: it is exactly the 3.8.4
  that Kafka 3.9 is built with and that the harness runs, pinned on its own, while
  ``cp-zookeeper`` would be a second ~1 GB UBI image running the same jar.
* KRaft mode is Kafka 4.3.1: the newest release that both the Maven registry here serves
  (``kafka_2.13`` up to 4.4.0; 4.3.2 too) and that the ASF is known to publish as an
  ``apache/kafka`` image. For 4.3.0 and 4.3.1 the release managers added the images to
  Kafka's CVE scan after promoting them (apache/kafka pull requests 22337, "I promoted both
  the jvm and native Docker images for 4.3.0", and 22657, "supported_image_tag for 4.3.1");
  for 4.3.2 and 4.4.0 no such record was found in the sources searched here. That is "not
  found here", not "does not exist": Docker Hub itself could not be queried from this
  machine, and every Kafka release normally gets an image (KIP-975). Move to a newer
  release once its image is confirmed; the harness needs only the Maven jars. The image's
  default log directory is /tmp/kraft-combined-logs, so the description sets
  ``KAFKA_LOG_DIRS`` on its data volume (:data:`IMAGE_FACTS`).
* kafka-python 2.3.3 in every app and in infra (the Pulumi topic provider), the last 2.x
  release: bug fixes with the 2.3 API (idempotence still needs one request in flight).
  PyPI serves 3.0.12. The simulator benchmark (apps/simulator/README.md; medians of CPU per
  reading) measured 2.3.0 at 35 µs, 2.3.3 at 27 µs and 3.0.12 at 24 µs, but 3.0 breaks this
  repo's code (``kafka.errors.NoBrokersAvailable`` removed, ``api_version_auto_timeout_ms``
  refused, a producer waits ``bootstrap_timeout_ms`` rather than ``max_block_ms`` for its
  first broker), and at the stack's 1,000 readings/s the simulator needs about 3% of a core
  with either, so 3.0 is a change of its own. 2.3.3 also brought a 1,000,000-byte limit on
  a received frame (``receive_message_max_bytes``, which broke large fetches in 3.0.0:
  dpkp/kafka-python#3074, raised to 100 MB in #3075); in 2.3.3 a connection re-creates its
  parser without that limit once it has closed, and a 2.3.3 consumer read 3.1 MB fetch
  responses from the harness broker with default settings (measured for issue 15).

What the description relies on in each pinned image (user, data directory, environment
names, the programs a health check calls) is written next to the pin in
:data:`IMAGE_FACTS`, with the maintainers' sources; ``tests/infra/test_image_facts.py``
checks every described service against it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

# --- Servers ---------------------------------------------------------------
FLINK_VERSION = "2.2.1"
FLINK_SCALA_VERSION = "2.12"
FLINK_KAFKA_CONNECTOR_VERSION = "5.0.0-2.2"

# mode "zookeeper": 3.9 is the last Kafka line with ZooKeeper, and 3.9.2 its first patch with
# the KAFKA-19012 fix (KAFKA_19012_FIXED_IN)
KAFKA_ZK_VERSION = "3.9.2"
# mode "kraft": the newest Kafka that both the Maven registry here serves (the harness runs
# its kafka_2.13 jars) and the ASF publishes as an apache/kafka image (see the docstring)
KAFKA_KRAFT_VERSION = "4.3.1"
ZOOKEEPER_VERSION = "3.8.4"  # the ZooKeeper that Kafka 3.9 is built and tested with

# The Confluent Platform release whose cp-kafka image runs the ZooKeeper-mode broker.
CONFLUENT_PLATFORM_VERSION = "7.9.6"
# Confluent Platform patch -> the newest Apache Kafka release its broker contains ("-SNAPSHOT":
# commits toward that release, not the release itself). Read from the release tags vX.Y.Z of
# https://github.com/confluentinc/kafka (a fork that merges Apache Kafka's 3.9 branch into
# its own): whether the tag has the commit that sets gradle.properties to an Apache release
# (for 3.9.2: 12ead27d3b "Bump version to 3.9.2", merged with Apache's tag 3.9.2-rc0 by
# 43e4479ff6) and the KAFKA-19012 fix (on the 3.9 branch: 9386374a08, 2026-01-12). 7.9.1
# predates the 3.9.1 release; 7.9.2 (June 2025) has 3.9.1; 7.9.3 to 7.9.5 (Sep-Nov 2025)
# carry 3.9.2-SNAPSHOT commits but neither the 3.9.2 release nor the fix; 7.9.6 (tag of
# 2026-03-12) is the first with both, and it also has the commit that moved Apache's 3.9
# branch on to 3.9.3-SNAPSHOT after the release (25a388ffc0, 2026-02-21), so it holds
# whichever 3.9.2 candidate was released; 7.9.7 to 7.9.9 (May-July 2026) contain them too.
# (tests/kafkatest/version.py says LATEST_3_9 = 3.9.1 in every 7.9 tag up to 7.9.9: that
# list of versions for system tests lags, it does not say what the broker is built from.)
# A cp-kafka patch is a Confluent build (its jars are versioned 7.9.6-ccs), never byte-equal
# to an Apache release, so the rule is that it *contains* KAFKA_ZK_VERSION. The whole 7.9
# line is Apache Kafka 3.9:
# https://docs.confluent.io/platform/current/installation/versions-interoperability.html
# 7.9.6 is pinned, not 7.9.9: it is the newest patch whose image sources are stored where
# this was checked (confluentinc/kafka-images has tag v7.9.6 and branch 7.9.6-post; for
# 7.9.7 a branch and release-candidate tags but no release tag, for 7.9.8 and 7.9.9
# nothing), so IMAGE_FACTS could be read for it.
CONFLUENT_KAFKA: dict[str, str] = {
    "7.9.0": "3.9.0",
    "7.9.1": "3.9.1-SNAPSHOT",
    "7.9.2": "3.9.1",
    "7.9.3": "3.9.2-SNAPSHOT",
    "7.9.4": "3.9.2-SNAPSHOT",
    "7.9.5": "3.9.2-SNAPSHOT",
    "7.9.6": "3.9.2",
    "7.9.7": "3.9.2",
    "7.9.8": "3.9.2",
    "7.9.9": "3.9.2",
}
# KAFKA-19012 (CVE-2026-35554): the Java producer could free a pooled buffer while a request
# still used it, after a batch expired or a broker disconnected, and write records to the
# wrong topic. It affects every Java client from 2.8.0. The first release of each line with
# the fix, read from confluentinc/kafka (which merges Apache's branches): on 3.9 9386374a08
# precedes the 3.9.2 release commit; on 4.0 the fix is in Apache's tag 4.0.2-rc1 (4.0.2); on
# 4.1 in 4.1.2-rc0 but not in the 4.1.1 release; on 4.2 b8c5738146 precedes every "Bump
# version to 4.2.0" commit; trunk had it (1df2ac5b2b, 2026-01-10, version 4.3.0-SNAPSHOT)
# before 4.3 branched, so every later line has it from its .0. Lines before 3.9 got no fix.
KAFKA_19012_FIXED_IN: dict[str, str] = {
    "3.9": "3.9.2",
    "4.0": "4.0.2",
    "4.1": "4.1.2",
    "4.2": "4.2.0",
}
# The ZooKeeper each Kafka line is built and tested with (gradle/dependencies.gradle of
# Kafka's 3.9 branch, also at the 3.9.2 release commit and confluentinc/kafka v7.9.6:
# zookeeper 3.8.4). The harness runs that jar; the zookeeper image must be the same release.
KAFKA_BUILT_WITH_ZOOKEEPER: dict[str, str] = {"3.9": "3.8.4"}

ELASTICSEARCH_VERSION = "8.19.21"
KIBANA_VERSION = ELASTICSEARCH_VERSION  # Kibana must equal Elasticsearch, always

JAVA_VERSION = 17  # the JDK the harness uses; every server above runs on it

# Logging back-ends Kafka needs on its class path when run from Maven jars.
RELOAD4J_VERSION = "1.2.25"
SLF4J_VERSION = "1.7.36"
LOG4J2_VERSION = "2.25.4"  # what Kafka 4.3.1 is built with (gradle/dependencies.gradle)

# --- Python packages that must agree with the servers ----------------------
PYTHON_VERSION = (3, 11)
PYFLINK_PACKAGE = f"apache-flink=={FLINK_VERSION}"
ELASTICSEARCH_CLIENT_VERSION = "8.19.3"
KAFKA_PYTHON_VERSION = "2.3.3"

# --- Images (official bases; users pull these, tests build their own) -------
PYTHON_BASE_IMAGE = "python:3.11.14-slim-bookworm"
IMAGES = {
    "zookeeper": f"zookeeper:{ZOOKEEPER_VERSION}",
    "kafka-zookeeper-mode": f"confluentinc/cp-kafka:{CONFLUENT_PLATFORM_VERSION}",
    "kafka-kraft-mode": f"apache/kafka:{KAFKA_KRAFT_VERSION}",
    "flink": f"flink:{FLINK_VERSION}-scala_{FLINK_SCALA_VERSION}-java{JAVA_VERSION}",
    "elasticsearch": f"docker.elastic.co/elasticsearch/elasticsearch:{ELASTICSEARCH_VERSION}",
    "kibana": f"docker.elastic.co/kibana/kibana:{KIBANA_VERSION}",
    "python": PYTHON_BASE_IMAGE,
}

# Platforms the app images can be built for (stack key ``imagePlatform``): apache-flink
# 2.2.1 publishes manylinux wheels for x86_64 only (none for aarch64, as 1.19.3), and the
# alerts image sets JAVA_HOME to Debian's amd64 JDK. An arm64 host builds and runs
# linux/amd64 images under emulation (Docker Desktop has it; a Linux arm64 host needs
# binfmt/QEMU).
BUILD_PLATFORMS = ("linux/amd64",)


# Where the facts below were read (commits or release branches of the maintainers' repos).
_ZOOKEEPER_SRC = (
    "https://github.com/31z4/zookeeper-docker/blob/ec1050affd761a7886c1f1f5d18165c19d3143e8/3.8.4/"
)
_CP_KAFKA_SRC = "https://github.com/confluentinc/kafka-images/blob/7.9.6-post/kafka/"
_APACHE_KAFKA_SRC = "https://github.com/apache/kafka/blob/4.3/docker/"
_FLINK_SRC = (
    "https://github.com/apache/flink-docker/blob/2bc8536e8b7ef419f19c4136febdb6cb062a82a6/"
    "2.2/scala_2.12-java17-ubuntu/"
)
_ELASTIC_SRC = (
    "https://github.com/elastic/dockerfiles/blob/f15851a9a22d36ecdf682c600f316b6b413e291a/"
)
_PYTHON_SRC = (
    "https://github.com/docker-library/python/blob/54a65f4ff531391810946ee17b0806accbda0fae/"
)


@dataclass(frozen=True)
class ImageFacts:
    """What the description may rely on in one pinned image, as its maintainers ship it.

    ``tests/infra/test_image_facts.py`` checks every described service against these: its
    user, each data volume's path, every environment name, and every program its health
    check or command calls.
    """

    read_for: str  # the image reference these facts were read for; a new pin re-reads them
    uid: int  # the user the server process runs as
    gids: tuple[int, ...]  # that user's groups in the image, primary first
    data_dirs: Mapping[str, str]  # data directory -> its owner "uid:gid" (a new volume copies it)
    env: str  # regex every environment name the description sets must match ("" = none read)
    tools: tuple[str, ...]  # programs a health check or command may call (PATH name or path)
    sources: tuple[str, ...]  # the maintainers' Dockerfile, entrypoint and documentation
    env_required: tuple[str, ...] = ()  # the entrypoint exits without these
    env_refused: tuple[str, ...] = ()  # the entrypoint exits with these
    kafka_modes: tuple[str, ...] = ()  # Kafka images: the modes the maintainers support


IMAGE_FACTS: dict[str, ImageFacts] = {
    # Docker official image, built from 31z4/zookeeper-docker@ec1050a, directory 3.8.4. The
    # user zookeeper is 1000:1000 and owns /data and /datalog; the entrypoint steps down
    # from root with gosu, or runs as given with --user. It writes /conf/zoo.cfg from the
    # ZOO_* variables (srvr is the 4lw command zkServer.sh status uses); ZooKeeper's own
    # scripts read JVMFLAGS; zkServer.sh is on PATH (/apache-zookeeper-3.8.4-bin/bin).
    "zookeeper": ImageFacts(
        read_for="zookeeper:3.8.4",
        uid=1000,
        gids=(1000,),
        data_dirs={"/data": "1000:1000", "/datalog": "1000:1000"},
        env=(
            r"ZOO_(CONF_DIR|DATA_DIR|DATA_LOG_DIR|LOG_DIR|TICK_TIME|INIT_LIMIT|SYNC_LIMIT"
            r"|AUTOPURGE_PURGEINTERVAL|AUTOPURGE_SNAPRETAINCOUNT|MAX_CLIENT_CNXNS"
            r"|STANDALONE_ENABLED|ADMINSERVER_ENABLED|SERVERS|4LW_COMMANDS_WHITELIST"
            r"|CFG_EXTRA|MY_ID)|JVMFLAGS"
        ),
        tools=("zkServer.sh", "zkCli.sh", "nc"),
        sources=(
            f"{_ZOOKEEPER_SRC}Dockerfile",
            f"{_ZOOKEEPER_SRC}docker-entrypoint.sh",
            "https://github.com/docker-library/docs/blob/master/zookeeper/content.md",
            "https://github.com/docker-library/official-images/blob/master/library/zookeeper",
        ),
    ),
    # Confluent's community image (confluentinc/kafka-images, branch 7.9.6-post; its kafka/
    # directory differs from 7.9.2-post only in the parent pom's version, and the base
    # (common-docker 7.9.6-post) still adds appuser first, curl and nmap-ncat). Its
    # configure script runs ZooKeeper mode unless KAFKA_PROCESS_ROLES is set, and then
    # requires KAFKA_ZOOKEEPER_CONNECT and KAFKA_ADVERTISED_LISTENERS; it exits on the old
    # KAFKA_PORT/HOST/ADVERTISED_PORT/ADVERTISED_HOST (so Kubernetes service links must stay
    # off). Every other KAFKA_* name becomes a kafka.properties line (KAFKA_HEAP_OPTS is
    # also read by the Kafka scripts; the template's missing comma leaves a harmless unused
    # heap.opts line). It runs as appuser, uid 1000 (cp-base-new's first useradd; the run
    # script prints "uid=1000(appuser) gid=1000(appuser)", confluentinc/cp-docker-images#912).
    # /var/lib/kafka/data is appuser:root, ug+w. Confluent's packages put the Kafka tools on
    # PATH without ".sh" (there is no /opt/kafka); the base adds cub, curl and nc.
    "kafka-zookeeper-mode": ImageFacts(
        read_for="confluentinc/cp-kafka:7.9.6",
        uid=1000,
        gids=(1000,),
        data_dirs={"/var/lib/kafka/data": "1000:0"},
        env=r"KAFKA_[A-Z0-9_]+",
        tools=(
            "kafka-broker-api-versions",
            "kafka-topics",
            "kafka-server-start",
            "cub",
            "curl",
            "nc",
        ),
        sources=(
            f"{_CP_KAFKA_SRC}Dockerfile.ubi8",
            f"{_CP_KAFKA_SRC}include/etc/confluent/docker/configure",
            f"{_CP_KAFKA_SRC}include/etc/confluent/docker/ensure",
            f"{_CP_KAFKA_SRC}include/etc/confluent/docker/kafka.properties.template",
            "https://github.com/confluentinc/common-docker/blob/7.9.6-post/base/Dockerfile.ubi8",
            "https://docs.confluent.io/platform/7.3/installation/docker/config-reference.html",
            "https://docs.confluent.io/platform/7.6/tools/cli-reference.html",
            "https://github.com/confluentinc/cp-docker-images/issues/912",
        ),
        env_required=("KAFKA_ZOOKEEPER_CONNECT", "KAFKA_ADVERTISED_LISTENERS"),
        env_refused=("KAFKA_PORT", "KAFKA_HOST", "KAFKA_ADVERTISED_PORT", "KAFKA_ADVERTISED_HOST"),
        kafka_modes=("zookeeper", "kraft"),
    ),
    # The ASF's image (apache/kafka docker/jvm): KRaft only. Its maintainers do not support
    # ZooKeeper mode (KAFKA-16453) and its configure script has no ZooKeeper branch; in KRaft
    # mode it requires CLUSTER_ID. KAFKA_* names become server.properties lines. The user
    # appuser is uid 1000 (Alpine's first adduser); /var/lib/kafka/data is appuser:root. The
    # distribution is /opt/kafka, not on PATH: tools are called as /opt/kafka/bin/*.sh. The
    # image's default configuration (docker/server.properties) sets
    # log.dirs=/tmp/kraft-combined-logs, outside the data volume, so the description sets
    # KAFKA_LOG_DIRS under /var/lib/kafka/data (tests/infra/test_image_facts.py checks it in
    # both modes). Read on the 4.3 branch as merged into github.com/confluentinc/kafka (the
    # apache/kafka copy stored where this was checked stops in 2024); docker/jvm/Dockerfile
    # there differs from 4.1's only in how the tarball is fetched (eclipse-temurin:21-jre-alpine
    # base in both).
    "kafka-kraft-mode": ImageFacts(
        read_for="apache/kafka:4.3.1",
        uid=1000,
        gids=(1000,),
        data_dirs={"/var/lib/kafka/data": "1000:0"},
        env=r"KAFKA_[A-Z0-9_]+|CLUSTER_ID",
        tools=(
            "/opt/kafka/bin/kafka-broker-api-versions.sh",
            "/opt/kafka/bin/kafka-topics.sh",
            "/opt/kafka/bin/kafka-storage.sh",
        ),
        sources=(
            f"{_APACHE_KAFKA_SRC}jvm/Dockerfile",
            f"{_APACHE_KAFKA_SRC}resources/common-scripts/configure",
            f"{_APACHE_KAFKA_SRC}examples/README.md",
            "https://issues.apache.org/jira/browse/KAFKA-16453",
        ),
        env_required=("CLUSTER_ID", "KAFKA_PROCESS_ROLES"),
        kafka_modes=("kraft",),
    ),
    # Not run by the description: the alerts image (apps/alerts) runs Flink from the PyFlink
    # wheel and keeps this image's conventions (user flink 9999, /opt/flink, FLINK_PROPERTIES).
    # Read in the 2.2 directory (the Dockerfile there downloads 2.2.0; a patch release
    # changes only that URL): groupadd/useradd 9999, eclipse-temurin:17-jre-noble base; the
    # entrypoint merges FLINK_PROPERTIES into config.yaml with bin/config-parser-utils.sh.
    "flink": ImageFacts(
        read_for="flink:2.2.1-scala_2.12-java17",
        uid=9999,
        gids=(9999,),
        data_dirs={},
        env=r"FLINK_PROPERTIES|ENABLE_BUILT_IN_PLUGINS",
        tools=("flink", "jobmanager.sh", "taskmanager.sh"),
        sources=(
            f"{_FLINK_SRC}Dockerfile",
            f"{_FLINK_SRC}release.metadata",
            "https://github.com/apache/flink-docker/blob/d5602ba49e5175ec2b6a33a281340ac9791b7dc7/"
            "2.2/scala_2.12-java11-ubuntu/docker-entrypoint.sh",
        ),
    ),
    # elastic/dockerfiles, branch 8.19 (f15851a, the 8.19.10 context, the newest 8.19 context
    # stored there; the 8.19 Dockerfile and entrypoint do not change between patches). Ubuntu
    # 24.04 base; user elasticsearch is 1000:1000 and also in group root (usermod -aG root);
    # the image's USER is 1000:0. data/ is chowned to elasticsearch and keeps group root. The
    # Dockerfile sets ES_DISTRIBUTION_TYPE=docker, for which Elasticsearch turns environment
    # names with a dot ([a-z0-9_]+ parts) into settings; ES_JAVA_OPTS sizes the JVM; the
    # entrypoint puts ELASTIC_PASSWORD into the keystore as bootstrap.password. 8.x turns
    # security (and TLS) on by default unless xpack.security.enabled is set: the description
    # always sets it. The final stage installs curl and netcat-openbsd; bin/ is on PATH.
    "elasticsearch": ImageFacts(
        read_for="docker.elastic.co/elasticsearch/elasticsearch:8.19.21",
        uid=1000,
        gids=(1000, 0),
        data_dirs={"/usr/share/elasticsearch/data": "1000:0"},
        env=r"[a-z0-9_]+(\.[a-z0-9_]+)+|ES_JAVA_OPTS|ELASTIC_PASSWORD",
        tools=("curl", "nc", "elasticsearch", "elasticsearch-keystore"),
        sources=(
            f"{_ELASTIC_SRC}elasticsearch/Dockerfile",
            f"{_ELASTIC_SRC}elasticsearch/bin/docker-entrypoint.sh",
            "https://www.elastic.co/guide/en/elasticsearch/reference/8.19/docker.html",
            "https://www.elastic.co/guide/en/elasticsearch/reference/8.19/security-settings.html",
        ),
    ),
    # elastic/dockerfiles, branch 8.19 (same commit): Ubuntu 24.04; user kibana 1000:1000 with
    # group root (-G 0); /usr/share/kibana is 1000:0 and group-writable; USER 1000.
    # kibana-docker maps a setting's name upper-cased with dots as underscores
    # (ELASTICSEARCH_HOSTS, ELASTICSEARCH_USERNAME/PASSWORD, SERVER_HOST, TELEMETRY_OPTIN,
    # XPACK_SECURITY_ENCRYPTIONKEY, XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY,
    # XPACK_REPORTING_ENCRYPTIONKEY) to settings; NODE_OPTIONS is read by Node.js itself. 8.x
    # refuses elasticsearch.username "elastic" (the stack logs in as kibana_system). The final
    # stage installs curl; grep comes with the Ubuntu base.
    "kibana": ImageFacts(
        read_for="docker.elastic.co/kibana/kibana:8.19.21",
        uid=1000,
        gids=(1000, 0),
        data_dirs={"/usr/share/kibana/data": "1000:0"},
        env=(
            r"ELASTICSEARCH_(HOSTS|USERNAME|PASSWORD)|SERVER_HOST|TELEMETRY_OPTIN|NODE_OPTIONS"
            r"|XPACK_(SECURITY|ENCRYPTEDSAVEDOBJECTS|REPORTING)_ENCRYPTIONKEY"
        ),
        tools=("curl", "grep"),
        sources=(
            f"{_ELASTIC_SRC}kibana/Dockerfile",
            f"{_ELASTIC_SRC}kibana/bin/kibana-docker",
            "https://www.elastic.co/guide/en/kibana/8.19/docker.html",
            "https://www.elastic.co/guide/en/kibana/8.19/settings.html",
        ),
    ),
    # The base of the three app images (docker-library/python@54a65f4, 3.11/slim-bookworm):
    # no USER (each app's Dockerfile adds its own), python3 and python in /usr/local/bin,
    # Debian's sh and coreutils. The image reads no settings; the apps' own are checked
    # against their config.py by tests/infra/test_contract.py.
    "python": ImageFacts(
        read_for="python:3.11.14-slim-bookworm",
        uid=0,
        gids=(0,),
        data_dirs={},
        env="",
        tools=("python3", "python", "sh", "cut", "cat"),
        sources=(
            f"{_PYTHON_SRC}3.11/slim-bookworm/Dockerfile",
            "https://github.com/docker-library/official-images/blob/master/library/python",
        ),
    ),
}


def maven_properties() -> dict[str, str]:
    """The -D properties that tests/harness/pom.xml resolves its artifacts with."""
    return {
        "kafka.zk.version": KAFKA_ZK_VERSION,
        "kafka.kraft.version": KAFKA_KRAFT_VERSION,
        "elasticsearch.version": ELASTICSEARCH_VERSION,
        "flink.kafka.connector.version": FLINK_KAFKA_CONNECTOR_VERSION,
        "reload4j.version": RELOAD4J_VERSION,
        "slf4j.version": SLF4J_VERSION,
        "log4j2.version": LOG4J2_VERSION,
    }


# --- Compatibility rules -----------------------------------------------------
@dataclass(frozen=True)
class Pins:
    """The subset of pins the compatibility rules look at (overridable in tests)."""

    flink: str = FLINK_VERSION
    flink_kafka_connector: str = FLINK_KAFKA_CONNECTOR_VERSION
    pyflink_package: str = PYFLINK_PACKAGE
    python: tuple[int, int] = PYTHON_VERSION
    elasticsearch: str = ELASTICSEARCH_VERSION
    kibana: str = KIBANA_VERSION
    elasticsearch_client: str = ELASTICSEARCH_CLIENT_VERSION
    kafka_zk: str = KAFKA_ZK_VERSION
    kafka_kraft: str = KAFKA_KRAFT_VERSION
    confluent_platform: str = CONFLUENT_PLATFORM_VERSION
    zookeeper: str = ZOOKEEPER_VERSION
    java: int = JAVA_VERSION


# Python versions each PyFlink minor line publishes wheels for. 2.2 and 2.3: read from PyPI
# (pip download --no-deps of 2.2.0, 2.2.1 and 2.3.0 for manylinux x86_64: cp39 to cp312
# wheels, classifiers 3.9-3.12, Requires-Python >=3.9; no cp313 wheel).
PYFLINK_PYTHONS: dict[str, tuple[tuple[int, int], ...]] = {
    "1.17": ((3, 7), (3, 8), (3, 9), (3, 10)),
    "1.18": ((3, 8), (3, 9), (3, 10), (3, 11)),
    "1.19": ((3, 8), (3, 9), (3, 10), (3, 11)),
    "1.20": ((3, 8), (3, 9), (3, 10), (3, 11)),
    "2.2": ((3, 9), (3, 10), (3, 11), (3, 12)),
    "2.3": ((3, 9), (3, 10), (3, 11), (3, 12)),
}

# Flink minor lines on which a connector released for a given Flink minor (the version's
# suffix, 5.0.0-2.2 -> "2.2") is known to run. Flink 2.x connectors are released per minor
# and compiled against @PublicEvolving/@Internal APIs that may change between minors, so a
# line is listed only where it was run. 5.0.0-2.2 (its parent pom compiles against Flink
# 2.1.0 and Kafka clients 4.2.0): on 2.2 (its release's line) the harness runs it (the job's
# tests, the harness smoke tests, the keeper against real Flink) and so does the alerts
# image (tests/docker_e2e); on 2.3.0 the job's 42 tests passed with it in the harness
# (apache-flink 2.3.0 wheel, measured for issue 15; the image was not run on 2.3).
CONNECTOR_RUNS_ON: dict[str, tuple[str, ...]] = {
    "1.18": ("1.18",),
    "1.19": ("1.18", "1.19", "1.20"),
    "1.20": ("1.20",),
    "2.2": ("2.2", "2.3"),
}

# Java majors each Flink major runs on: 2.x dropped Java 8; apache/flink-docker builds the
# 2.2 images for java11, java17 and java21 (its 2.2/ directories).
FLINK_JAVAS: dict[int, tuple[int, ...]] = {1: (8, 11, 17), 2: (11, 17, 21)}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _major(version: str) -> int:
    return int(version.split(".")[0])


def _minor_number(version: str) -> int:
    return int(version.split(".")[1])


def _release_key(version: str) -> tuple[int, ...]:
    """Sort key: 3.9.2-SNAPSHOT < 3.9.2 < 3.9.3-SNAPSHOT (a snapshot precedes its release)."""
    number, _, suffix = version.partition("-")
    return (*(int(part) for part in number.split(".")), 0 if suffix == "SNAPSHOT" else 1)


def _line_key(line: str) -> tuple[int, int]:
    major, minor = line.split(".")
    return int(major), int(minor)


def _kafka_19012_error(version: str, mode: str) -> str | None:
    """Why Kafka ``version`` lacks the KAFKA-19012 fix, or None when it has it."""
    line = _minor(version)
    fixed_in = KAFKA_19012_FIXED_IN.get(line)
    newest_listed = max(KAFKA_19012_FIXED_IN, key=_line_key)
    if fixed_in is None and _line_key(line) > _line_key(newest_listed):
        return None  # lines branched after the fix have it from their first release
    if fixed_in is None:
        return (
            f"Kafka {version} ({mode} mode) has no release with the fix for KAFKA-19012 "
            f"(CVE-2026-35554, records written to the wrong topic); use 3.9.2 or later"
        )
    if _release_key(version) < _release_key(fixed_in):
        return (
            f"Kafka {version} ({mode} mode) lacks the fix for KAFKA-19012 (CVE-2026-35554, "
            f"records written to the wrong topic); the {line} line has it from {fixed_in}"
        )
    return None


def compatibility_errors(pins: Pins = Pins()) -> list[str]:
    """Every broken compatibility rule, as a sentence naming both sides and the fix."""
    errors: list[str] = []
    flink_minor = _minor(pins.flink)
    connector = pins.flink_kafka_connector
    built_for = connector.rsplit("-", 1)[-1]
    if flink_minor not in CONNECTOR_RUNS_ON.get(built_for, ()):
        errors.append(
            f"Flink {pins.flink} cannot load the Kafka connector {connector} "
            f"(built for Flink {built_for}); pick a connector release for Flink {flink_minor}"
        )
    if pins.java not in FLINK_JAVAS.get(_major(pins.flink), ()):
        errors.append(
            f"Flink {pins.flink} does not run on Java {pins.java}; it runs on Java "
            + ", ".join(str(j) for j in FLINK_JAVAS.get(_major(pins.flink), ()))
        )
    pyflink_version = pins.pyflink_package.split("==")[-1]
    if pyflink_version != pins.flink:
        errors.append(
            f"PyFlink {pyflink_version} must equal the Flink cluster version {pins.flink}"
        )
    if pins.python not in PYFLINK_PYTHONS.get(flink_minor, ()):
        errors.append(
            f"PyFlink {flink_minor} has no wheels for Python "
            f"{pins.python[0]}.{pins.python[1]}; supported: "
            + ", ".join(f"{a}.{b}" for a, b in PYFLINK_PYTHONS.get(flink_minor, ()))
        )
    if pins.kibana != pins.elasticsearch:
        errors.append(f"Kibana {pins.kibana} must equal Elasticsearch {pins.elasticsearch}")
    if _major(pins.elasticsearch_client) != _major(pins.elasticsearch):
        errors.append(
            f"the Python elasticsearch client {pins.elasticsearch_client} must have the "
            f"server's major version {_major(pins.elasticsearch)} (other majors refuse it)"
        )
    elif _minor_number(pins.elasticsearch_client) > _minor_number(pins.elasticsearch):
        errors.append(
            f"the Python elasticsearch client {pins.elasticsearch_client} is newer than the "
            f"server {pins.elasticsearch}: clients are forward compatible only (a client "
            f"minor at most the server's); pin a {_minor(pins.elasticsearch)} client"
        )
    if _major(pins.elasticsearch) >= 9 and pins.java < 21:
        errors.append(f"Elasticsearch {pins.elasticsearch} needs Java 21, not {pins.java}")
    if not pins.kafka_zk.startswith("3."):
        errors.append(
            f"Kafka {pins.kafka_zk} cannot run with ZooKeeper; zookeeper mode needs a 3.x release"
        )
    if _major(pins.kafka_kraft) < 3:
        errors.append(f"Kafka {pins.kafka_kraft} has no production KRaft mode")
    for version, mode in ((pins.kafka_zk, "ZooKeeper"), (pins.kafka_kraft, "KRaft")):
        error = _kafka_19012_error(version, mode)
        if error:
            errors.append(error)
    errors.extend(_zookeeper_mode_errors(pins))
    return errors


def _zookeeper_mode_errors(pins: Pins) -> list[str]:
    """The cp-kafka image must contain the Kafka release the harness tests (KAFKA_ZK_VERSION
    from Maven), on the same line, and the zookeeper image must be the ZooKeeper that line is
    built with."""
    errors: list[str] = []
    zk_line = _minor(pins.kafka_zk)
    shipped = CONFLUENT_KAFKA.get(pins.confluent_platform)
    if shipped is None:
        errors.append(
            f"Confluent Platform {pins.confluent_platform} is not in CONFLUENT_KAFKA; add the "
            "newest Apache Kafka release its broker contains (the confluentinc/kafka tag)"
        )
    elif _minor(shipped) != zk_line:
        errors.append(
            f"cp-kafka {pins.confluent_platform} runs Kafka {shipped}, not the {zk_line} line of "
            f"KAFKA_ZK_VERSION {pins.kafka_zk}; pick the Confluent Platform patch that ships "
            f"Kafka {zk_line}"
        )
    elif _release_key(shipped) < _release_key(pins.kafka_zk):
        errors.append(
            f"cp-kafka {pins.confluent_platform} does not contain Kafka {pins.kafka_zk} (its "
            f"newest Kafka is {shipped}); pick a Confluent Platform patch that contains "
            f"KAFKA_ZK_VERSION (CONFLUENT_KAFKA)"
        )
    built_with = KAFKA_BUILT_WITH_ZOOKEEPER.get(zk_line)
    if built_with != pins.zookeeper:
        errors.append(
            f"ZooKeeper {pins.zookeeper} is not the ZooKeeper Kafka {zk_line} is built with "
            f"({built_with or 'unknown: add it to KAFKA_BUILT_WITH_ZOOKEEPER'})"
        )
    return errors


def check_compatibility(pins: Pins = Pins()) -> None:
    """Raise ValueError listing every broken rule; do nothing when all hold."""
    errors = compatibility_errors(pins)
    if errors:
        raise ValueError("incompatible pins:\n  - " + "\n  - ".join(errors))


if __name__ == "__main__":  # pragma: no cover - convenience for humans
    check_compatibility()
    sys.stdout.write("all version pins are compatible\n")
