#!/usr/bin/env bash
# The native stack: the same engines as docker-compose.yml, without Docker.
#
#   scripts/native/stack.sh up                 install what is missing, start everything, register the connector
#   scripts/native/stack.sh install            only fetch/unpack engines (Maven Central, Debian)
#   scripts/native/stack.sh install-sink-plugins   the two MongoDB sink connectors the warehouse bench compares
#                                              with (Maven Central); restarts a running Connect to load them
#   scripts/native/stack.sh start [engine...]  start engines (all when none named); running ones are left alone
#   scripts/native/stack.sh stop  [engine...]  stop engines this script started (all when none named)
#   scripts/native/stack.sh status             one line per engine: up/down, pid, port
#   scripts/native/stack.sh logs <engine>      follow an engine's log (set LOG_LINES / NO_FOLLOW=1 to tweak)
#   scripts/native/stack.sh reset              stop everything and delete all data (downloads are kept)
#
# Engines: postgres redis kafka elasticsearch mongodb connect mailpit
#   PostgreSQL 15 (Debian)        127.0.0.1:5432   own cluster, wal_level=logical, loaded with postgres/init.sql
#   Redis (Debian)                127.0.0.1:6379   append-only file on
#   Kafka 3.9.1 KRaft (Maven)     127.0.0.1:9092
#   Elasticsearch 8.19 (Maven)    127.0.0.1:9200   integ-test-zip distribution, unprivileged user
#   mongo-java-server (Maven)     127.0.0.1:27017  H2 backend (persistent), reports MongoDB 6.0 / wire 17,
#                                                  SCRAM-SHA-256 user admin/admin123, login optional
#   Kafka Connect + Debezium      127.0.0.1:8083   connector from debezium/connector-config.json
#   Mailpit (Go module proxy)     127.0.0.1:8025   HTTP API (+ SMTP on 127.0.0.1:1025), built once with `go install`
#
# Ports: the compose ports above. CDC_PORT_OFFSET=N (at the first `up`; remembered in
# .stack/port-offset) adds N to every port, so a second checkout can run a private stack beside the
# first one (its .stack/env and .env then carry the shifted addresses).
#
# Everything lives in one git-ignored folder, .stack/ (override with CDC_STACK_DIR):
#   lib/ opt/ plugins/ dl/   engines (cached; Maven's own cache is ~/.m2)
#   bin/mailpit              Mailpit, built from its Go module (Go's own cache is ~/go)
#   data/<engine>/           data
#   log/<engine>.log         logs
#   run/<engine>.pid         processes this script started
#   env                      the engines' addresses, read by the test harness
# Run as root, the engines run as the unprivileged user `cdcstack` (PostgreSQL and Elasticsearch
# refuse to run as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=${CDC_STACK_DIR:-$ROOT/.stack}
POM=$ROOT/scripts/native/pom.xml

KAFKA_VERSION=3.9.1
DEBEZIUM_VERSION=3.2.3.Final
MONGO_KAFKA_CONNECT_VERSION=2.0.1
ES_VERSION=8.19.21
MAILPIT_VERSION=v1.33.1
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
JAVA_HOME_17=${JAVA_HOME_17:-}
ALL_ENGINES=(postgres redis kafka elasticsearch mongodb connect mailpit)
STACK_USER=cdcstack
# The connector's database password (debezium/connector-config.json refers to it): the environment,
# else .env, else the one postgres/init.sql gives the role.
DEBEZIUM_DB_PASSWORD_FROM=environment
if [[ -z ${DEBEZIUM_DB_PASSWORD:-} && -f $ROOT/.env ]]; then
  DEBEZIUM_DB_PASSWORD=$(sed -n 's/^DEBEZIUM_DB_PASSWORD=//p' "$ROOT/.env" | tail -1)
  DEBEZIUM_DB_PASSWORD_FROM=.env
fi
if [[ -z ${DEBEZIUM_DB_PASSWORD:-} ]]; then DEBEZIUM_DB_PASSWORD=dbz; DEBEZIUM_DB_PASSWORD_FROM=default; fi

if [[ -z ${CDC_PORT_OFFSET:-} && -f $STACK/port-offset ]]; then CDC_PORT_OFFSET=$(cat "$STACK/port-offset"); fi
PORT_OFFSET=${CDC_PORT_OFFSET:-0}
[[ $PORT_OFFSET =~ ^[0-9]+$ ]] || { echo "[native] ERROR: CDC_PORT_OFFSET must be a non-negative integer" >&2; exit 1; }
port() { echo $(($1 + PORT_OFFSET)); }
declare -A PORT=([postgres]=$(port 5432) [redis]=$(port 6379) [kafka]=$(port 9092) [elasticsearch]=$(port 9200) [mongodb]=$(port 27017) [connect]=$(port 8083) [mailpit]=$(port 8025))
KAFKA_CONTROLLER_PORT=$(port 9093)
ES_TRANSPORT_PORT=$(port 9300)
MAILPIT_SMTP_PORT=$(port 1025)

say() { printf '[native] %s\n' "$*"; }
die() { printf '[native] ERROR: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------------------------------

find_java17() {
  if [[ -n $JAVA_HOME_17 ]]; then echo "$JAVA_HOME_17"; return; fi
  local candidate
  for candidate in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk* /usr/lib/jvm/temurin-17* "${JAVA_HOME:-}"; do
    if [[ -n $candidate && -x $candidate/bin/java ]] && "$candidate/bin/java" -version 2>&1 | grep -q 'version "17'; then
      echo "$candidate"; return
    fi
  done
  if command -v java >/dev/null && java -version 2>&1 | grep -q 'version "17'; then
    dirname "$(dirname "$(readlink -f "$(command -v java)")")"; return
  fi
  return 1
}

apt_install() {
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian packages: $*"
    if [[ ! -f /var/lib/apt/lists/.cdc-updated ]]; then
      apt-get update -qq && touch /var/lib/apt/lists/.cdc-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "missing $*. Install it (Debian/Ubuntu: sudo apt-get install $*) and run again."
  fi
}

check_prerequisites() {
  JAVA17=$(find_java17) || die "Java 17 is required for Kafka, Kafka Connect and Elasticsearch 8 (Debian: apt-get install openjdk-17-jre-headless; or set JAVA_HOME_17)."
  command -v mvn >/dev/null || apt_install maven
  [[ -x $PG_BIN/postgres ]] || apt_install postgresql-15
  command -v psql >/dev/null || apt_install postgresql-client-15
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-cli >/dev/null || apt_install redis-tools
  command -v unzip >/dev/null || apt_install unzip
  command -v curl >/dev/null || apt_install curl
  command -v node >/dev/null || die "Node.js 20+ is required (https://nodejs.org or Debian's nodejs)."
  # Debian's redis-server package starts a system instance on 6379: ours must own that port.
  if [[ $EUID -eq 0 ]] && pgrep -f "redis-server .*:${PORT[redis]}" >/dev/null && [[ ! -f $STACK/run/redis.pid ]]; then
    say "stopping the system redis-server that Debian started on ${PORT[redis]} (the stack runs its own)"
    (service redis-server stop || pkill -f "redis-server .*:${PORT[redis]}") >/dev/null 2>&1 || true
  fi
  # Likewise Debian's own PostgreSQL cluster ("15 main") if a package install started it on 5432.
  if [[ $EUID -eq 0 ]] && command -v pg_lsclusters >/dev/null && [[ ! -f $STACK/run/postgres.pid ]]; then
    local version cluster port status
    while read -r version cluster port status _; do
      if [[ $port == "${PORT[postgres]}" && $status == online* ]]; then
        say "stopping Debian's PostgreSQL cluster $version/$cluster on ${PORT[postgres]} (the stack runs its own)"
        pg_ctlcluster "$version" "$cluster" stop || true
      fi
    done < <(pg_lsclusters --no-header 2>/dev/null)
  fi
}

# --- running as an unprivileged user ---------------------------------------------------------------

# setpriv execs the command itself (no intermediate process), so a pid we record is the engine's.
AS_USER=()
[[ $EUID -eq 0 ]] && AS_USER=(setpriv --reuid="$STACK_USER" --regid="$STACK_USER" --init-groups --)
as_stack_user() {
  if [[ $EUID -eq 0 ]]; then setpriv --reuid="$STACK_USER" --regid="$STACK_USER" --init-groups -- "$@"; else "$@"; fi
}

prepare_dirs() {
  mkdir -p "$STACK"/{lib,opt,plugins,dl,data,log,run,conf}
  echo "$PORT_OFFSET" >"$STACK/port-offset"
  if [[ $EUID -eq 0 ]]; then
    id "$STACK_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$STACK_USER"
    # The engines' user must be able to reach .stack/ through every parent folder (a fresh clone
    # may sit in a 0700 temp folder): grant traverse-only (o+x) where it is missing.
    local dir=$STACK
    while [[ $dir != / ]]; do
      dir=$(dirname "$dir")
      [[ $(stat -c %A "$dir") == *x ]] || chmod o+x "$dir"
    done
    chown -R "$STACK_USER" "$STACK"/{data,log,run,conf}
  fi
  # Engine data is the stack user's alone (the engines also run with umask 077, see spawn).
  chmod 700 "$STACK/data"
  find "$STACK/data" -mindepth 1 -maxdepth 1 -type d -exec chmod 700 {} +
}

# --- install ---------------------------------------------------------------------------------------

# Maven's output goes to a log, shown only when it fails.
mvn_quiet() {
  local log=$STACK/log/maven.log
  mvn -B -f "$POM" "$@" >"$log" 2>&1 || { tail -40 "$log" >&2; die "Maven failed (full log: $log)"; }
}

install_engines() {
  check_prerequisites
  prepare_dirs
  if [[ ! -f $STACK/lib/kafka/kafka_2.13-$KAFKA_VERSION.jar ]]; then
    say "fetching Kafka $KAFKA_VERSION and Kafka Connect from Maven Central"
    rm -rf "$STACK/lib/kafka"
    mvn_quiet -Pkafka dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$STACK/lib/kafka"
  fi
  if [[ ! -f $STACK/lib/mongodb/mongo-java-server-h2-backend-1.47.0.jar ]]; then
    say "fetching mongo-java-server from Maven Central"
    rm -rf "$STACK/lib/mongodb"
    mvn_quiet -Pmongodb dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$STACK/lib/mongodb"
  fi
  if [[ ! -d $STACK/plugins/debezium-connector-postgres ]]; then
    say "fetching the Debezium PostgreSQL connector $DEBEZIUM_VERSION plugin from Maven Central"
    mvn_quiet dependency:copy -Dartifact="io.debezium:debezium-connector-postgres:$DEBEZIUM_VERSION:tar.gz:plugin" -DoutputDirectory="$STACK/dl"
    tar -xzf "$STACK/dl/debezium-connector-postgres-$DEBEZIUM_VERSION-plugin.tar.gz" -C "$STACK/plugins"
  fi
  if [[ ! -x $STACK/opt/elasticsearch-$ES_VERSION/bin/elasticsearch ]]; then
    say "fetching Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central"
    mvn_quiet dependency:copy -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" -DoutputDirectory="$STACK/dl"
    rm -rf "$STACK/opt/elasticsearch-$ES_VERSION"
    unzip -q "$STACK/dl/elasticsearch-$ES_VERSION.zip" -d "$STACK/opt"
  fi
  install_mailpit
  # Elasticsearch writes its keystore and temp files under its home.
  [[ $EUID -eq 0 ]] && chown -R "$STACK_USER" "$STACK/opt/elasticsearch-$ES_VERSION"
  return 0
}

# Mailpit is not in Maven Central or Debian: it is built from its Go module, fetched through the Go
# module proxy (~3 min cold on 2 cores, once; Go caches the module in ~/go). The web UI's assets are
# not in the module (the UI page is blank), its SMTP server and REST API (/api/v1/...) are complete.
# The version stamp makes a version bump rebuild it.
install_mailpit() {
  local stamp=$STACK/bin/mailpit.version
  [[ -x $STACK/bin/mailpit && $(cat "$stamp" 2>/dev/null) == "$MAILPIT_VERSION" ]] && return 0
  command -v go >/dev/null || apt_install golang-go
  say "building Mailpit $MAILPIT_VERSION from its Go module (github.com/axllent/mailpit, ~3 min cold)"
  mkdir -p "$STACK/bin"
  local log=$STACK/log/mailpit-build.log
  # -trimpath and -s -w: a 24 MB binary instead of 35 MB; -X sets the version it reports.
  GOBIN=$STACK/bin GOFLAGS=-buildvcs=false go install -trimpath \
    -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION" \
    "github.com/axllent/mailpit@$MAILPIT_VERSION" >"$log" 2>&1 \
    || { tail -20 "$log" >&2; die "building Mailpit failed (full log: $log); it needs Go 1.24+ and the Go module proxy"; }
  echo "$MAILPIT_VERSION" >"$stamp"
}

# The peers of scripts/bench/warehouse-throughput.ts, not needed to run the project: Debezium's own
# MongoDB sink (in the debezium-connector-mongodb plugin) and MongoDB's mongo-kafka-connect (its
# "all" jar carries the driver). Each gets its own plugin folder, so Connect isolates their classes.
install_sink_plugins() {
  prepare_dirs
  local changed=0
  if [[ ! -d $STACK/plugins/debezium-connector-mongodb ]]; then
    say "fetching the Debezium MongoDB connector $DEBEZIUM_VERSION plugin (its sink) from Maven Central"
    mvn_quiet dependency:copy -Dartifact="io.debezium:debezium-connector-mongodb:$DEBEZIUM_VERSION:tar.gz:plugin" -DoutputDirectory="$STACK/dl"
    tar -xzf "$STACK/dl/debezium-connector-mongodb-$DEBEZIUM_VERSION-plugin.tar.gz" -C "$STACK/plugins"
    changed=1
  fi
  if [[ ! -f $STACK/plugins/mongo-kafka-connect/mongo-kafka-connect-$MONGO_KAFKA_CONNECT_VERSION-all.jar ]]; then
    say "fetching mongo-kafka-connect $MONGO_KAFKA_CONNECT_VERSION from Maven Central"
    mkdir -p "$STACK/plugins/mongo-kafka-connect"
    mvn_quiet dependency:copy -Dartifact="org.mongodb.kafka:mongo-kafka-connect:$MONGO_KAFKA_CONNECT_VERSION:jar:all" -DoutputDirectory="$STACK/plugins/mongo-kafka-connect"
    changed=1
  fi
  [[ $EUID -eq 0 ]] && chown -R "$STACK_USER" "$STACK/plugins"
  # Connect scans plugin.path at start only.
  if ((changed)) && is_running connect; then
    JAVA17=$(find_java17) || die "Java 17 is required"
    say "restarting connect to load the new plugins"
    stop_engine connect
    start_engine connect
  fi
  return 0
}

# --- process bookkeeping ---------------------------------------------------------------------------

pid_of() { local f=$STACK/run/$1.pid; [[ -f $f ]] && cat "$f" || true; }
is_running() { local pid; pid=$(pid_of "$1"); [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for <what> <seconds> <command...>
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what did not become ready within ${seconds}s; see its log: scripts/native/stack.sh logs ${what%% *}"
    fi
    sleep 1
  done
}

# Starts a long-running command as the stack user, in the background, with its log and pid file.
spawn() { # spawn <engine> <command...>
  local engine=$1; shift
  local log=$STACK/log/$engine.log
  rm -f "$STACK/run/$engine.pid"
  # setsid: the engine gets its own session, so it outlives whatever started it (a terminal, a
  # test run whose process group is killed). The inner shell records its own pid and then execs
  # (setpriv execs too), so the pid file holds the engine's pid whether or not setsid forked.
  (cd "$STACK" && umask 077 && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STACK/run/$engine.pid" "${AS_USER[@]}" "$@") \
    </dev/null >>"$log" 2>&1 &
  local waited=0
  until [[ -s $STACK/run/$engine.pid ]] || ((waited++ > 50)); do sleep 0.1; done
}

refuse_foreign_port() { # an engine we did not start already holds the port
  local engine=$1
  if port_open "${PORT[$engine]}"; then
    die "port ${PORT[$engine]} ($engine) is already in use by a process this stack did not start. Stop it, or stop the Docker stack (./setup.sh down), and run again."
  fi
}

# --- engines ---------------------------------------------------------------------------------------

# Nobody but the stack user may use PostgreSQL's socket, and every connection (socket or TCP) needs
# a password: with `trust` on a world-writable socket any local user was superuser.
start_postgres() {
  local data=$STACK/data/postgres socket=$STACK/run/postgres
  if [[ ! -f $data/PG_VERSION ]]; then
    say "postgres: creating a PostgreSQL 15 cluster in $data"
    (umask 077 && echo postgres >"$STACK/run/pwfile")
    [[ $EUID -eq 0 ]] && chown "$STACK_USER" "$STACK/run/pwfile"
    as_stack_user "$PG_BIN/initdb" -D "$data" -U postgres --pwfile="$STACK/run/pwfile" -E UTF8 --locale=C.UTF-8 \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 >"$STACK/log/postgres-initdb.log"
    rm -f "$STACK/run/pwfile"
    cat >>"$data/postgresql.conf" <<EOF
# --- native stack (scripts/native/stack.sh) ---
listen_addresses = '127.0.0.1'
port = ${PORT[postgres]}
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
EOF
  fi
  # A cluster made before these rules trusted local connections: require passwords there too.
  if grep -Eq '^[[:space:]]*local[[:space:]].*[[:space:]]trust[[:space:]]*$' "$data/pg_hba.conf"; then
    say "postgres: pg_hba.conf trusted local connections; switching them to scram-sha-256"
    sed -i -E 's/^([[:space:]]*local[[:space:]].*[[:space:]])trust[[:space:]]*$/\1scram-sha-256/' "$data/pg_hba.conf"
  fi
  mkdir -p "$socket"; chmod 700 "$socket"; [[ $EUID -eq 0 ]] && chown "$STACK_USER" "$socket"
  # Given at every start, so an existing cluster gets them too. max_slot_wal_keep_size: the same cap
  # as compose on the WAL an abandoned slot may pin.
  as_stack_user "$PG_BIN/pg_ctl" -D "$data" -l "$STACK/log/postgres.log" -w -t 60 \
    -o "-c unix_socket_directories=$socket -c unix_socket_permissions=0700 -c max_slot_wal_keep_size=4GB" start >/dev/null
  head -1 "$data/postmaster.pid" >"$STACK/run/postgres.pid"
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -p "${PORT[postgres]}" -U postgres -tAc "select 1 from pg_database where datname='ecommerce'" postgres | grep -q 1; then
    say "postgres: creating database ecommerce and loading postgres/init.sql"
    PGPASSWORD=postgres psql -q -h 127.0.0.1 -p "${PORT[postgres]}" -U postgres -c 'CREATE DATABASE ecommerce' postgres
    PGPASSWORD=postgres psql -q -h 127.0.0.1 -p "${PORT[postgres]}" -U postgres -v ON_ERROR_STOP=1 -f "$ROOT/postgres/init.sql" ecommerce >/dev/null
  fi
  # The connector's password: DEBEZIUM_DB_PASSWORD when one is set, else init.sql's.
  if [[ $DEBEZIUM_DB_PASSWORD_FROM != default ]]; then
    printf "ALTER ROLE debezium PASSWORD :'pw';\n" |
      PGPASSWORD=postgres psql -q -h 127.0.0.1 -p "${PORT[postgres]}" -U postgres -v ON_ERROR_STOP=1 -v pw="$DEBEZIUM_DB_PASSWORD" ecommerce >/dev/null
  fi
}

start_redis() {
  mkdir -p "$STACK/data/redis"; [[ $EUID -eq 0 ]] && chown "$STACK_USER" "$STACK/data/redis"
  spawn redis redis-server --bind 127.0.0.1 --port "${PORT[redis]}" --dir "$STACK/data/redis" \
    --appendonly yes --save '' --daemonize no
  wait_for "redis" 30 redis-cli -p "${PORT[redis]}" ping
}

start_kafka() {
  local conf=$STACK/conf/kafka.properties data=$STACK/data/kafka
  cat >"$conf" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:${PORT[kafka]},CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT[kafka]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
  write_log4j kafka
  if [[ ! -f $data/meta.properties ]]; then
    say "kafka: formatting KRaft storage"
    local cluster_id
    cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid | tail -1)
    as_stack_user "$JAVA17/bin/java" -cp "$STACK/lib/kafka/*" -Dlog4j.configuration="file:$STACK/conf/log4j-kafka.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" >>"$STACK/log/kafka.log" 2>&1
  fi
  spawn kafka "$JAVA17/bin/java" -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$STACK/conf/log4j-kafka.properties" -cp "$STACK/lib/kafka/*" kafka.Kafka "$conf"
  wait_for "kafka" 120 port_open "${PORT[kafka]}"
}

kafka_java() { "$JAVA17/bin/java" -cp "$STACK/lib/kafka/*" -Dlog4j.configuration="file:$STACK/conf/log4j-kafka.properties" "$@"; }

write_log4j() { # write_log4j <engine>: console appender (the spawn log), quiet third-party chatter
  cat >"$STACK/conf/log4j-$1.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.reflections=ERROR
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
EOF
}

start_elasticsearch() {
  local home=$STACK/opt/elasticsearch-$ES_VERSION data=$STACK/data/elasticsearch
  mkdir -p "$data"; [[ $EUID -eq 0 ]] && chown "$STACK_USER" "$data"
  cat >"$home/config/elasticsearch.yml" <<EOF
cluster.name: cdc-native
node.name: native-1
path.data: $data
path.logs: $STACK/log/elasticsearch
network.host: 127.0.0.1
http.port: ${PORT[elasticsearch]}
transport.port: $ES_TRANSPORT_PORT
discovery.type: single-node
# The integ-test-zip ships x-pack security, which would otherwise auto-configure TLS and passwords:
# the Docker stack runs with security off too.
xpack.security.enabled: false
EOF
  mkdir -p "$home/config/jvm.options.d" "$STACK/log/elasticsearch"
  printf -- '-Xms%s\n-Xmx%s\n' "${ES_HEAP:-1g}" "${ES_HEAP:-1g}" >"$home/config/jvm.options.d/heap.options"
  [[ $EUID -eq 0 ]] && chown -R "$STACK_USER" "$home/config" "$STACK/log/elasticsearch"
  # -d: the launcher returns once the node has started (or failed); -p: the node's own pid.
  # setsid: its own session, so it outlives whatever started it (see spawn).
  setsid --wait "${AS_USER[@]}" env ES_JAVA_HOME="$JAVA17" ES_PATH_CONF="$home/config" "$home/bin/elasticsearch" -d -p "$STACK/run/elasticsearch.pid" \
    >>"$STACK/log/elasticsearch.log" 2>&1 || die "elasticsearch failed to start; see $STACK/log/elasticsearch.log and $STACK/log/elasticsearch/"
  wait_for "elasticsearch" 180 curl -sf "http://127.0.0.1:${PORT[elasticsearch]}/_cluster/health?wait_for_status=yellow&timeout=1s"
}

start_mongodb() {
  mkdir -p "$STACK/data/mongodb"; [[ $EUID -eq 0 ]] && chown "$STACK_USER" "$STACK/data/mongodb"
  # The root account of docker-compose.yml's MongoDB, so `mongosh -u admin -p admin123` works on both
  # stacks; MONGO_REQUIRE_AUTH=true refuses commands before login (see MongoWireServer.java).
  spawn mongodb env MONGO_ROOT_USERNAME="${MONGO_ROOT_USERNAME:-admin}" MONGO_ROOT_PASSWORD="${MONGO_ROOT_PASSWORD:-admin123}" \
    MONGO_REQUIRE_AUTH="${MONGO_REQUIRE_AUTH:-false}" "$JAVA17/bin/java" -Xmx${MONGODB_HEAP:-1g} -cp "$STACK/lib/mongodb/*" \
    "$ROOT/scripts/native/MongoWireServer.java" "$STACK/data/mongodb/warehouse.mv" 127.0.0.1 "${PORT[mongodb]}"
  # Compiling the server source and opening a large store took over 60 s on a loaded box.
  wait_for "mongodb" 300 port_open "${PORT[mongodb]}"
}

# The connector config holds database.password=${env:DEBEZIUM_DB_PASSWORD}: the worker resolves it
# from its environment (EnvVarConfigProvider, Kafka 3.5+) when the task starts, so Connect's REST
# API never shows the password. Connector configs may read only DEBEZIUM_DB_* variables.
start_connect() {
  local conf=$STACK/conf/connect-distributed.properties
  cat >"$conf" <<EOF
bootstrap.servers=127.0.0.1:${PORT[kafka]}
group.id=cdc-native-connect
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
config.storage.topic=connect_configs
offset.storage.topic=connect_offsets
status.storage.topic=connect_statuses
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=5000
listeners=http://127.0.0.1:${PORT[connect]}
rest.advertised.host.name=127.0.0.1
plugin.path=$STACK/plugins
topic.creation.enable=true
# The worker's own group: it revokes its tasks once the broker has been unreachable for
# heartbeat.interval.ms (Kafka's WorkerCoordinator). A Debezium task revoked while the broker is
# away cannot flush its offsets, so it cannot stop within task.shutdown.graceful.timeout.ms, lives
# on and keeps the replication slot: its successor never streams again until the worker restarts
# (the fault suite's broker restart showed it; a restart of the broker takes ~30 s on this box).
# 60 s rides out a broker restart; a task revoked after that gets 30 s more to stop cleanly once
# the broker is back. One worker here, so the longer session (3 x) delays nothing.
heartbeat.interval.ms=60000
session.timeout.ms=180000
task.shutdown.graceful.timeout.ms=30000
# Producer of the connector's records (measured with npm run bench and the throughput benches;
# the numbers are in debezium/README.md): send at once (no linger: low load is fast; under load
# batches fill while a request is in flight), room for many ~4.5 kB changes in a partition's
# batch, and no compression: the consumers (kafkajs, a JavaScript LZ4 codec) spent more CPU per
# event on LZ4 batches than on plain ones, and CPU is what this box runs out of.
producer.linger.ms=0
producer.batch.size=262144
producer.compression.type=none
config.providers=env
config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider
config.providers.env.param.allowlist.pattern=^DEBEZIUM_DB_.*
EOF
  write_log4j connect
  # In the worker's environment (readable by its own user only), never on its command line.
  export DEBEZIUM_DB_PASSWORD
  spawn connect "$JAVA17/bin/java" -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$STACK/conf/log4j-connect.properties" -cp "$STACK/lib/kafka/*" \
    org.apache.kafka.connect.cli.ConnectDistributed "$conf"
  wait_for "connect" 180 curl -sf "http://127.0.0.1:${PORT[connect]}/connectors"
}

start_mailpit() {
  local data=$STACK/data/mailpit
  mkdir -p "$data"; [[ $EUID -eq 0 ]] && chown "$STACK_USER" "$data"
  [[ -x $STACK/bin/mailpit ]] || die "mailpit is not built yet: run scripts/native/stack.sh install"
  port_open "$MAILPIT_SMTP_PORT" && die "port $MAILPIT_SMTP_PORT (mailpit SMTP) is already in use by a process this stack did not start"
  # As in docker-compose.yml: any SMTP login accepted without TLS. Chaos is enabled so tests can
  # inject SMTP errors (PUT /api/v1/chaos); --max keeps the newest messages (default 500 is too few
  # for the notification benchmark).
  spawn mailpit "$STACK/bin/mailpit" --database "$data/mailpit.db" \
    --listen "127.0.0.1:${PORT[mailpit]}" --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" \
    --max "${MAILPIT_MAX_MESSAGES:-50000}" --smtp-auth-accept-any --smtp-auth-allow-insecure \
    --enable-chaos --disable-version-check
  wait_for "mailpit" 60 curl -sf "http://127.0.0.1:${PORT[mailpit]}/api/v1/info"
}

start_engine() {
  local engine=$1
  if is_running "$engine"; then say "$engine: already running (pid $(pid_of "$engine"))"; return; fi
  refuse_foreign_port "$engine"
  say "$engine: starting"
  local started=$SECONDS
  "start_$engine"
  say "$engine: up on 127.0.0.1:${PORT[$engine]} ($((SECONDS - started))s)"
}

stop_engine() {
  local engine=$1 pid
  pid=$(pid_of "$engine")
  if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then rm -f "$STACK/run/$engine.pid"; return; fi
  say "$engine: stopping (pid $pid)"
  if [[ $engine == postgres ]]; then
    as_stack_user "$PG_BIN/pg_ctl" -D "$STACK/data/postgres" -m fast -w stop >/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then say "$engine: did not stop in 60s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.5
  done
  rm -f "$STACK/run/$engine.pid"
}

# --- connector and env file ------------------------------------------------------------------------

register_connector() {
  node "$ROOT/scripts/register-connector.mjs" --connect "http://127.0.0.1:${PORT[connect]}" --database-host 127.0.0.1 --database-port "${PORT[postgres]}"
}

write_env_file() {
  cat >"$STACK/env" <<EOF
# Written by scripts/native/stack.sh: where the native engines listen.
POSTGRES_URL=postgres://postgres:postgres@127.0.0.1:${PORT[postgres]}/ecommerce
KAFKA_BROKERS=127.0.0.1:${PORT[kafka]}
KAFKA_CONNECT_URL=http://127.0.0.1:${PORT[connect]}
ELASTICSEARCH_URL=http://127.0.0.1:${PORT[elasticsearch]}
REDIS_URL=redis://127.0.0.1:${PORT[redis]}
MONGODB_URL=mongodb://127.0.0.1:${PORT[mongodb]}
MAILPIT_URL=http://127.0.0.1:${PORT[mailpit]}
SMTP_URL=smtp://127.0.0.1:$MAILPIT_SMTP_PORT
EOF
}

status() {
  local engine pid state
  printf '%-14s %-5s %-8s %s\n' ENGINE STATE PID ADDRESS
  for engine in "${ALL_ENGINES[@]}"; do
    pid=$(pid_of "$engine")
    if is_running "$engine" && port_open "${PORT[$engine]}"; then state=up
    elif is_running "$engine"; then state=start
    else state=down; pid=-; fi
    printf '%-14s %-5s %-8s 127.0.0.1:%s\n' "$engine" "$state" "${pid:--}" "${PORT[$engine]}"
  done
  if port_open "${PORT[connect]}"; then
    printf '\nconnector ecommerce-postgres-connector: %s\n' \
      "$(curl -s "http://127.0.0.1:${PORT[connect]}/connectors/ecommerce-postgres-connector/status" | node -e '
        let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
          try { const j = JSON.parse(s); console.log(j.connector ? `${j.connector.state}, tasks: ${j.tasks.map((t) => t.state).join(",") || "none"}` : "not registered"); }
          catch { console.log("not registered"); } });')"
  fi
}

engines_from_args() { if (($# == 0)); then echo "${ALL_ENGINES[@]}"; else echo "$@"; fi; }

validate_engines() {
  local engine
  for engine in "$@"; do
    [[ -n ${PORT[$engine]:-} ]] || die "unknown engine '$engine' (engines: ${ALL_ENGINES[*]})"
  done
}

main() {
  local command=${1:-up}; shift || true
  case $command in
    install) install_engines ;;
    install-sink-plugins) install_sink_plugins ;;
    up)
      local started=$SECONDS
      install_engines
      for engine in "${ALL_ENGINES[@]}"; do start_engine "$engine"; done
      register_connector
      write_env_file
      say "all engines up in $((SECONDS - started))s"
      ;;
    start)
      # shellcheck disable=SC2046
      set -- $(engines_from_args "$@"); validate_engines "$@"
      JAVA17=$(find_java17) || die "Java 17 is required"
      prepare_dirs
      for engine in "$@"; do start_engine "$engine"; done
      ;;
    stop|down)
      # shellcheck disable=SC2046
      set -- $(engines_from_args "$@"); validate_engines "$@"
      # Stop in reverse dependency order: Connect before Kafka and PostgreSQL.
      local engine i
      for ((i = ${#ALL_ENGINES[@]} - 1; i >= 0; i--)); do
        engine=${ALL_ENGINES[i]}
        if [[ " $* " == *" $engine "* ]]; then stop_engine "$engine"; fi
      done
      ;;
    status) status ;;
    logs)
      local engine=${1:-}; validate_engines "$engine"
      local log=$STACK/log/$engine.log
      [[ $engine == elasticsearch ]] && log=$STACK/log/elasticsearch/cdc-native.log
      [[ -f $log ]] || die "no log yet for $engine ($log)"
      if [[ -n ${NO_FOLLOW:-} ]]; then tail -n "${LOG_LINES:-100}" "$log"; else tail -n "${LOG_LINES:-100}" -f "$log"; fi
      ;;
    reset)
      main stop
      say "deleting data and logs in $STACK (downloads kept)"
      rm -rf "$STACK"/{data,log,run,conf,env}
      ;;
    *) die "unknown command '$command' (up, install, install-sink-plugins, start, stop, status, logs, reset)" ;;
  esac
}

main "$@"
