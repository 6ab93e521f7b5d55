#!/usr/bin/env bash
# Installs promtool (Debian `prometheus`) for the alert-rule tests (tests/integration/prometheus-alerts.test.ts):
# `promtool check rules`, `promtool test rules` and `promtool check metrics` are Prometheus's own rule loader and
# exposition linter, so the shipped docker/prometheus/alerts.yml is checked by the real thing.
# Idempotent: does nothing when promtool is already on the PATH. Never leaves a Prometheus server running: the tests
# need only the promtool binary, and the package's service would otherwise scrape and listen on :9090.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "prometheus.sh: promtool is missing and not root: install it (Debian: apt-get install --no-install-recommends prometheus)" >&2
  exit 1
fi

# Forbid maintainer scripts from starting services during the install (invoke-rc.d honours policy-rc.d, exit 101 =
# "action not allowed"). An existing policy (a container's) is left as it is; ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() {
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# prepare.sh sets FEDGATE_APT_UPDATED after its own `apt-get update`; a second one would only cost time.
if [ "${FEDGATE_APT_UPDATED:-}" != 1 ]; then
  apt-get update -qq
fi
# --no-install-recommends: not prometheus-node-exporter (another service, not needed).
apt-get install -y -qq --no-install-recommends prometheus >/tmp/fedgate-apt-prometheus.log 2>&1 || {
  tail -30 /tmp/fedgate-apt-prometheus.log >&2
  echo "prometheus.sh: apt-get install prometheus failed" >&2
  exit 1
}

# Belt and braces for a host with systemd whose policy allowed the start anyway: stop and disable the unit.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || {
  echo "prometheus.sh: the prometheus package installed no promtool" >&2
  exit 1
}
promtool --version >/dev/null
