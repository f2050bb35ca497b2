#!/usr/bin/env bash
# One command for the whole CDC stack.
#
#   ./setup.sh                 bring everything up: Docker Compose when a Docker engine answers,
#                              otherwise the native stack (same engines, same ports, no Docker)
#   ./setup.sh --native        the native stack even where Docker is available
#   ./setup.sh --docker        Docker Compose, failing if no Docker engine answers
#   ./setup.sh status          each engine up/down, and the connector's state
#   ./setup.sh logs <engine>   an engine's log (postgres redis kafka elasticsearch mongodb connect mailpit)
#   ./setup.sh down            stop what setup started (data kept)
#   ./setup.sh reset           stop and delete all data
#
# "Up" means: engines healthy, the Debezium connector from debezium/connector-config.json
# registered (created or updated, idempotently) and RUNNING, npm dependencies installed and the
# TypeScript built. Re-running it is safe: what already runs is left alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

MODE_FILE=.stack/mode
say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nsetup: ERROR: %s\n' "$*" >&2; exit 1; }

docker_available() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

recorded_mode() {
  if [[ -f $MODE_FILE ]]; then cat "$MODE_FILE"
  elif docker_available; then echo docker
  else echo native; fi
}

ensure_env_file() { # .env for the consumers (and for compose's variables); never overwrite the user's
  local mode=$1
  if [[ ! -f .env ]]; then
    cp .env.example .env
    if [[ $mode == native ]]; then
      # The native MongoDB-wire server knows the admin login but does not require it.
      sed -i 's#^MONGODB_URL=.*#MONGODB_URL=mongodb://127.0.0.1:27017#' .env
      shift_env_ports
    fi
    echo "created .env from .env.example ($mode stack)"
  fi
}

# CDC_PORT_OFFSET=N (native stack only) moves every engine N ports up, so a second checkout can
# run its own stack beside the first: the addresses in .env follow.
shift_env_ports() {
  local offset=${CDC_PORT_OFFSET:-0} port
  ((offset > 0)) || return 0
  for port in 5432 9092 8083 9200 6379 27017 1025 8025; do
    sed -i -E "s#^((POSTGRES|KAFKA|ELASTICSEARCH|REDIS|MONGODB|SMTP|MAILPIT)_[A-Z_]+=(.*[:@/])?127\.0\.0\.1):$port\b#\1:$((port + offset))#" .env
  done
  # The consumers' health ports and the pipeline page move along (npm start, npm run dashboard).
  {
    echo "# CDC_PORT_OFFSET=$offset: the consumers' /live /ready /metrics ports and the pipeline page"
    echo "ELASTICSEARCH_HEALTH_PORT=$((9101 + offset))"
    echo "REDIS_HEALTH_PORT=$((9102 + offset))"
    echo "WAREHOUSE_HEALTH_PORT=$((9103 + offset))"
    echo "NOTIFICATION_HEALTH_PORT=$((9104 + offset))"
    echo "DASHBOARD_PORT=$((9100 + offset))"
  } >>.env
}

install_node_deps() {
  say "installing npm dependencies and building"
  command -v node >/dev/null || die "Node.js 20+ is required (https://nodejs.org)."
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "Node.js 20+ is required, found $(node --version)."
  if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
  npm run --silent build
}

up_docker() {
  say "starting the Docker Compose stack (this waits for every healthcheck)"
  ensure_env_file docker
  compose up -d --wait
  say "registering the Debezium connector"
  node scripts/register-connector.mjs --connect http://localhost:8083 --wait-seconds 180
  say "creating the Kibana data views (products, orders, customers, order_items)"
  node scripts/operator/kibana-data-views.mjs --kibana http://localhost:5601 --wait-seconds 180
}

up_native() {
  say "starting the native stack (no Docker): PostgreSQL, Redis, Kafka, Elasticsearch, MongoDB-wire, Kafka Connect, Mailpit"
  ensure_env_file native
  scripts/native/stack.sh up
}

print_next_steps() {
  cat <<'EOF'

==> The CDC stack is up.

Run all four consumers in this terminal, with the pipeline page (http://localhost:9100):
  npm start

Or one per terminal:
  npm run consumer:elasticsearch
  npm run consumer:redis
  npm run consumer:warehouse
  npm run consumer:notification

Fire changes at the shop database:
  PGPASSWORD=postgres psql -h localhost -U postgres -d ecommerce -f postgres/test-queries.sql

Look:
  curl "localhost:9200/orders/_search?pretty"
  redis-cli GET order:1
  npm run dlq -- list
  curl "localhost:8025/api/v1/messages"    # the notification emails (Mailpit)
  ./setup.sh status

Run the tests:
  npm test
EOF
}

main() {
  local command=${1:-up}
  case $command in
    up|--native|--docker)
      local mode
      case $command in
        --native) mode=native ;;
        --docker) docker_available || die "--docker given, but no Docker engine answers (docker info failed)."; mode=docker ;;
        *) if docker_available; then mode=docker; else
             echo "No Docker engine answers here: using the native stack (same engines and ports, no Docker)."
             mode=native
           fi ;;
      esac
      mkdir -p .stack && echo "$mode" >"$MODE_FILE"
      "up_$mode"
      install_node_deps
      print_next_steps
      ;;
    status)
      if [[ $(recorded_mode) == docker ]]; then compose ps; else scripts/native/stack.sh status; fi ;;
    logs)
      [[ -n ${2:-} ]] || die "usage: ./setup.sh logs <engine>"
      if [[ $(recorded_mode) == docker ]]; then compose logs -f "$2"; else scripts/native/stack.sh logs "$2"; fi ;;
    down)
      if [[ $(recorded_mode) == docker ]]; then compose down; else scripts/native/stack.sh stop; fi ;;
    reset)
      if [[ $(recorded_mode) == docker ]]; then compose down -v; else scripts/native/stack.sh reset; fi
      rm -f "$MODE_FILE" ;;
    -h|--help|help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$command' (try ./setup.sh --help)" ;;
  esac
}

main "$@"
