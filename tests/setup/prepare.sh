#!/usr/bin/env bash
# Prepares the real parts the test suite needs on this machine, installing what is missing:
#   xmlsec1 (independent XML signature verifier), chromium (browser tests), redis-server (store tests), haproxy
#   and nginx (load-balancer tests), oathtool (TOTP codes), a Samba AD DC (tests/setup/samba.sh), and podman for the
#   container image and compose farm (tests/setup/podman.sh).
# Idempotent: on a machine that already has everything it only checks and (re)starts the DC.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
# xmllint: the independent XML Schema validator for every message fedgate emits (tests/fixtures/xsd).
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
# Fonts the screenshots (tests/screenshots, docs/screenshots) are rendered with: DejaVu for Latin and Arabic, IPA
# Gothic for Japanese (Debian's smallest Japanese face); without them glyphs render as boxes and the comparison fails.
fc-list :lang=ar 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
fc-list :lang=ja 2>/dev/null | grep -q . || need+=(fonts-ipafont-gothic)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
command -v samba-tool >/dev/null 2>&1 || need+=(samba-ad-dc samba ldb-tools)
# The AD schema files `samba-tool domain provision` reads are only a Recommends of samba-ad-dc.
[ -d /usr/share/samba/setup/ad-schema ] || need+=(samba-ad-provision)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
# nginx terminating mTLS in front of fedgate (certificate sign-in behind a load balancer); the stream module for
# docker/nginx.conf's TLS passthrough block.
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
# oathtool: the independent TOTP implementation the second-factor tests take their codes from (RFC 6238).
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
command -v freeradius >/dev/null 2>&1 || need+=(freeradius freeradius-utils)
/usr/bin/python3 -c 'import msal' >/dev/null 2>&1 || need+=(python3 python3-msal) # Debian's python (not pyenv's)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "prepare: missing ${need[*]} and not root: install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "prepare: installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/fedgate-apt.log 2>&1 || {
    tail -30 /tmp/fedgate-apt.log >&2
    echo "prepare: apt-get install failed" >&2
    exit 1
  }
  export FEDGATE_APT_UPDATED=1
fi

# promtool and prometheus (the alert rules' tests) and SoftHSM2 (PKCS#11 signing tests): their own scripts install
# them when missing.
bash tests/setup/prometheus.sh
bash tests/setup/softhsm.sh install
bash tests/setup/msal.sh
# podman, docker-compose and local stand-ins of the base images (the container image and compose farm tests).
bash tests/setup/podman.sh all
bash tests/setup/samba.sh
