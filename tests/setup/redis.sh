#!/usr/bin/env bash
# Throwaway redis-server instances for tests: loopback only, no persistence, no system service.
#   redis.sh start PORT DIR [redis-server options...]   start (daemonized) and wait until it answers PING
#                                                         (TLS only: PORT 0 plus --tls-port N and the --tls-* files)
#   redis.sh stop  DIR                                    stop the instance whose pid file is in DIR
# Each test file starts its own instance on its own port, so files running in parallel never share state.
set -euo pipefail
cmd="${1:-}"
case "$cmd" in
  start)
    port="$2"
    dir="$3"
    shift 3
    command -v redis-server >/dev/null 2>&1 || {
      echo "redis.sh: redis-server is not installed (run tests/setup/prepare.sh)" >&2
      exit 1
    }
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --save "" --appendonly no \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" "$@"
    auth=()
    cli_port="$port"
    for ((i = 1; i <= $#; i++)); do
      j=$((i + 1))
      case "${!i}" in
        --requirepass) auth+=(-a "${!j}" --no-auth-warning) ;;
        --tls-port) cli_port="${!j}" ;;
        --tls-ca-cert-file) auth+=(--tls --cacert "${!j}") ;;
      esac
    done
    for _ in $(seq 1 100); do
      if redis-cli -h 127.0.0.1 -p "$cli_port" "${auth[@]}" ping 2>/dev/null | grep -q PONG; then
        exit 0
      fi
      sleep 0.05
    done
    echo "redis.sh: redis-server on port $port did not answer; log:" >&2
    tail -20 "$dir/redis.log" >&2 || true
    exit 1
    ;;
  stop)
    dir="$2"
    [ -f "$dir/redis.pid" ] || exit 0
    pid="$(cat "$dir/redis.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; exit 0; }
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/redis.pid"
    ;;
  *)
    echo "usage: redis.sh start PORT DIR [options] | stop DIR" >&2
    exit 2
    ;;
esac
