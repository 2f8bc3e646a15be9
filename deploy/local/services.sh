#!/usr/bin/env bash
# Brings up (or down) the services LEAP needs on one machine without Docker:
#   Apache Kafka (one KRaft node, jars from Maven Central), Redis and PostgreSQL (Debian packages).
# A service that already answers at the address in LEAP_* settings is left alone, so this can
# share a machine with existing services; `down` stops only what `up` started (it keeps pid files).
#
# usage: deploy/local/services.sh up|down|status|restart-postgres|restart-kafka|restart-redis
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${LEAP_PYTHON:-$ROOT/.venv/bin/python}
LEAP=${LEAP_CLI:-$ROOT/.venv/bin/leap}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka/pom.xml")
CACHE=${LEAP_CACHE_DIR:-$ROOT/.cache}
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs

# Endpoints and the state folder come from the one settings module, not from a second copy here.
eval "$("$PY" -m leap.settings)"
RUN=$STATE_DIR/run

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

is_local() { case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Polls a readiness command until it succeeds or the deadline passes; the command itself is a
# real check (a Kafka metadata request, a Redis PING, pg_isready), not a timer.
wait_until() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  log "$what is ready"
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# need_packages PKG...: Debian packages, installed when missing (shared with test-tools.sh).
source "$ROOT/deploy/local/packages.sh"

# ---------------------------------------------------------------- Kafka
kafka_fetch() {
  [[ -f $KAFKA_LIBS/.complete ]] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars"
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (first run only)"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
  touch "$KAFKA_LIBS/.complete"
}

kafka_up() {
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    pid_alive "$RUN/kafka.pid" && log "Kafka already running (started here)" || log "Kafka already reachable at $KAFKA_HOST:$KAFKA_PORT; leaving it alone"
    return 0
  fi
  is_local "$KAFKA_HOST" || die "Kafka at $KAFKA_HOST:$KAFKA_PORT is not reachable and is not on this machine"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka"
  kafka_fetch
  local dir=$STATE_DIR/kafka
  mkdir -p "$dir/data" "$dir/logs" "$RUN"
  local controller_port=$((KAFKA_PORT + 1)) sasl_port=$((KAFKA_PORT + 2))
  "$ROOT/deploy/local/tls.sh" "$STATE_DIR/tls"
  sed -e "s|@HOST@|$KAFKA_HOST|g" -e "s|@PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$controller_port|g" -e "s|@DATA@|$dir/data|g" \
      -e "s|@SASL_PORT@|$sasl_port|g" -e "s|@TLS@|$STATE_DIR/tls|g" \
      -e "s|@KEYSTORE_PASSWORD@|$(cat "$STATE_DIR/tls/server.p12.password")|g" \
      "$ROOT/deploy/kafka/server.properties" >"$dir/server.properties"
  local java=(java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
              -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties"
              -cp "$KAFKA_LIBS/*")
  if [[ ! -f $dir/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$("${java[@]}" kafka.tools.StorageTool random-uuid)
    log "formatting Kafka storage (cluster $cluster_id)"
    "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >"$dir/logs/format.log"
  fi
  log "starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (SASL_SSL on $sasl_port; logs: $dir/logs)"
  nohup "${java[@]}" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$RUN/kafka.pid"
  wait_until "Kafka" 120 "$LEAP" check kafka ||
    die "Kafka did not answer a metadata request within 120 s; see $dir/logs"
}

# ---------------------------------------------------------------- Redis
redis_up() {
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then
    log "Redis already reachable at $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  is_local "$REDIS_HOST" || die "Redis at $REDIS_HOST:$REDIS_PORT is not reachable and is not on this machine"
  command -v redis-server >/dev/null || need_packages redis-server
  local dir=$STATE_DIR/redis
  mkdir -p "$dir" "$RUN"
  log "starting Redis on $REDIS_HOST:$REDIS_PORT (data: $dir)"
  # Append-only file, fsync each second: live state and alert streams survive a restart.
  redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --dir "$dir" \
    --appendonly yes --appendfsync everysec --daemonize yes \
    --pidfile "$RUN/redis.pid" --logfile "$dir/redis.log"
  wait_until "Redis" 30 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping ||
    die "Redis did not answer PING within 30 s; see $dir/redis.log"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $bin ]] && echo "$bin"
}

pg_ensure_database() {
  # Idempotent: the role and database may already exist.
  PGPASSWORD=$PG_PASSWORD psql -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" | grep -q 1 ||
  PGPASSWORD=$PG_PASSWORD psql -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$PG_USER" -d postgres -qc \
    "CREATE DATABASE \"$PG_DATABASE\"" ||
  die "could not create database $PG_DATABASE as $PG_USER at $POSTGRES_HOST:$POSTGRES_PORT"
}

let_postgres_reach() {
  # The cluster lives under the project's state folder, but as root it runs as the packaged
  # postgres user, who must be able to pass through every folder above it. A checkout in a
  # private folder (mktemp -d, a home directory) does not allow that: grant search (x) only,
  # never read, on just the folders that lack it, and say so.
  local dir=$1 path=""
  local -a parts
  IFS=/ read -ra parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    path=$path/$part
    [[ -d $path ]] || break
    if ! runuser -u postgres -- test -x "$path"; then
      log "allowing the postgres user to pass through $path (chmod o+x)"
      chmod o+x "$path"
    fi
  done
}

# TLS as a university's server would have it (clients choose: LEAP_DATABASE_SSLMODE); the key
# must belong to the server's user and be private, so it is copied into the data folder.
pg_tls() {
  local dir=$1 owner=()
  "$ROOT/deploy/local/tls.sh" "$STATE_DIR/tls"
  [[ $(id -u) -eq 0 ]] && owner=(-o postgres -g postgres)
  install "${owner[@]}" -m 600 "$STATE_DIR/tls/server.key" "$dir/server.key"
  install "${owner[@]}" -m 644 "$STATE_DIR/tls/server.pem" "$dir/server.crt"
}

pg_options() {
  echo "-c listen_addresses=$POSTGRES_HOST -p $POSTGRES_PORT -k $1 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
}

postgres_up() {
  if port_open "$POSTGRES_HOST" "$POSTGRES_PORT"; then
    log "PostgreSQL already reachable at $POSTGRES_HOST:$POSTGRES_PORT"
    pg_ensure_database
    return 0
  fi
  is_local "$POSTGRES_HOST" || die "PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT is not reachable and is not on this machine"
  [[ -n $(pg_bin) ]] || need_packages postgresql
  command -v psql >/dev/null || need_packages postgresql-client
  local bin dir as=()
  bin=$(pg_bin)
  dir=$STATE_DIR/postgres
  mkdir -p "$dir" "$RUN"
  # PostgreSQL refuses to run as root: as root, the cluster belongs to the packaged postgres user.
  if [[ $(id -u) -eq 0 ]]; then
    as=(runuser -u postgres --)
    chown postgres: "$dir"
    let_postgres_reach "$dir"
  fi
  chmod 700 "$dir"
  if [[ ! -f $dir/PG_VERSION ]]; then
    log "creating a PostgreSQL cluster in $dir"
    local pwfile
    pwfile=$(mktemp)
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    chmod 644 "$pwfile"
    "${as[@]}" "$bin/initdb" -D "$dir" -U "$PG_USER" --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >"$STATE_DIR/postgres-initdb.log"
    rm -f "$pwfile"
  fi
  pg_tls "$dir"
  log "starting PostgreSQL on $POSTGRES_HOST:$POSTGRES_PORT (TLS on; data: $dir)"
  "${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "$(pg_options "$dir")" start >/dev/null ||
    die "PostgreSQL did not start; see $dir/server.log"
  head -n 1 "$dir/postmaster.pid" >"$RUN/postgres.pid"
  wait_until "PostgreSQL" 60 "$bin/pg_isready" -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" ||
    die "PostgreSQL did not accept connections within 60 s; see $dir/server.log"
  pg_ensure_database
}

# ---------------------------------------------------------------- down
stop_pid() {
  local name=$1 pidfile=$RUN/$1.pid
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  local pid
  pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name did not stop within 60 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

status() {
  for svc in kafka redis postgres; do
    local host_var=${svc^^}_HOST port_var=${svc^^}_PORT state=down owner=""
    port_open "${!host_var}" "${!port_var}" && state=up
    pid_alive "$RUN/$svc.pid" && owner=" (started by make up, pid $(cat "$RUN/$svc.pid"))"
    printf '%-9s %-4s %s:%s%s\n' "$svc" "$state" "${!host_var}" "${!port_var}" "$owner"
  done
}

case ${1:-} in
  up)
    kafka_up
    redis_up
    postgres_up
    ;;
  down)
    stop_pid kafka
    stop_pid redis
    # SIGTERM is PostgreSQL's "smart" shutdown; use pg_ctl's fast mode so open sessions do not hold it.
    if pid_alive "$RUN/postgres.pid"; then
      log "stopping PostgreSQL"
      as=()
      [[ $(id -u) -eq 0 ]] && as=(runuser -u postgres --)
      "${as[@]}" "$(pg_bin)/pg_ctl" -D "$STATE_DIR/postgres" -m fast -w stop >/dev/null || stop_pid postgres
      rm -f "$RUN/postgres.pid"
    fi
    ;;
  status) status ;;
  restart-postgres)
    # For outage drills and tests: a fast restart of the PostgreSQL that `up` started.
    pid_alive "$RUN/postgres.pid" || die "PostgreSQL was not started by this script; not restarting it"
    as=()
    [[ $(id -u) -eq 0 ]] && as=(runuser -u postgres --)
    log "restarting PostgreSQL"
    pg_tls "$STATE_DIR/postgres"
    "${as[@]}" "$(pg_bin)/pg_ctl" -D "$STATE_DIR/postgres" -m fast -w -t 60 restart \
      -o "$(pg_options "$STATE_DIR/postgres")" >/dev/null ||
      die "PostgreSQL did not restart; see $STATE_DIR/postgres/server.log"
    head -n 1 "$STATE_DIR/postgres/postmaster.pid" >"$RUN/postgres.pid"
    ;;
  restart-kafka)
    # For outage drills and `make chaos`: a clean stop and start of the broker `up` started.
    pid_alive "$RUN/kafka.pid" || die "Kafka was not started by this script; not restarting it"
    stop_pid kafka
    kafka_up
    ;;
  restart-redis)
    # Redis saves its append-only file on SIGTERM: what it held is there again after the start.
    pid_alive "$RUN/redis.pid" || die "Redis was not started by this script; not restarting it"
    stop_pid redis
    redis_up
    ;;
  *) echo "usage: $0 up|down|status|restart-postgres|restart-kafka|restart-redis" >&2; exit 2 ;;
esac
