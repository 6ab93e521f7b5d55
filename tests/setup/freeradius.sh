#!/usr/bin/env bash
# Throwaway FreeRADIUS (Debian `freeradius`, 3.2) instances for the RADIUS MFA client tests (issue 16): loopback
# only, config from tests/fixtures/freeradius/ copied into DIR, no system service.
#   freeradius.sh start PORT DIR SECRET   start it in the background and wait until it answers
#   freeradius.sh stop  DIR               stop the instance whose pid file is in DIR
set -euo pipefail
cmd="${1:-}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
case "$cmd" in
  start)
    port="$2"
    dir="$3"
    secret="$4"
    command -v freeradius >/dev/null 2>&1 || {
      echo "freeradius.sh: freeradius is not installed (run tests/setup/prepare.sh)" >&2
      exit 1
    }
    mkdir -p "$dir"
    for f in radiusd.conf clients.conf users; do
      sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" -e "s|@SECRET@|$secret|g" \
        "$here/tests/fixtures/freeradius/$f" >"$dir/$f"
    done
    # -f: stay in the foreground (so the pid we record is the server's); -l: log to the file; no -X (debug
    # output slows every request).
    freeradius -f -d "$dir" -n radiusd -l "$dir/radius.log" </dev/null >"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/radiusd.pid.launch"
    pid="$(cat "$dir/radiusd.pid.launch")"
    for _ in $(seq 1 200); do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "freeradius.sh: freeradius exited; output:" >&2
        tail -30 "$dir/stdout.log" "$dir/radius.log" >&2 2>/dev/null || true
        exit 1
      fi
      if grep -q "Ready to process requests" "$dir/radius.log" "$dir/stdout.log" 2>/dev/null; then
        exit 0
      fi
      sleep 0.05
    done
    echo "freeradius.sh: freeradius on port $port did not become ready; log:" >&2
    tail -30 "$dir/stdout.log" "$dir/radius.log" >&2 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
  stop)
    dir="$2"
    [ -f "$dir/radiusd.pid.launch" ] || exit 0
    pid="$(cat "$dir/radiusd.pid.launch")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || { rm -f "$dir/radiusd.pid.launch"; exit 0; }
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/radiusd.pid.launch"
    ;;
  *)
    echo "usage: freeradius.sh start PORT DIR SECRET | stop DIR" >&2
    exit 2
    ;;
esac
