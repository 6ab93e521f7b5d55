#!/usr/bin/env bash
# SoftHSM2 for the PKCS#11 signing tests (issue 18, Custody). Idempotent.
#   softhsm.sh [install]                 install softhsm2 with apt-get when missing; print the module path
#   softhsm.sh module                    print the PKCS#11 module path (fails when softhsm2 is missing)
#   softhsm.sh init DIR LABEL SOPIN PIN  a private SoftHSM2 under DIR (DIR/softhsm2.conf, tokens in DIR/tokens)
#                                        with a token LABEL (created unless it exists); print the module path
# Tests set SOFTHSM2_CONF=DIR/softhsm2.conf before the library is initialised, so each test file has its own
# tokens and /var/lib/softhsm is never touched. PINs on the command line are visible in `ps`: test PINs only.
set -euo pipefail

module_path() {
  local candidate
  # Debian's path first; the multiarch file is the same library.
  for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*-linux-gnu/softhsm/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -f "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

require_softhsm() {
  if ! command -v softhsm2-util >/dev/null 2>&1 || ! module_path >/dev/null; then
    echo "softhsm.sh: softhsm2 is not installed (run tests/setup/prepare.sh or tests/setup/softhsm.sh)" >&2
    exit 1
  fi
}

cmd="${1:-install}"
case "$cmd" in
  install)
    if ! command -v softhsm2-util >/dev/null 2>&1 || ! module_path >/dev/null; then
      sudo=()
      [ "$(id -u)" -eq 0 ] || sudo=(sudo)
      "${sudo[@]}" apt-get update -qq
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq softhsm2 >/dev/null
    fi
    require_softhsm
    module_path
    ;;
  module)
    require_softhsm
    module_path
    ;;
  init)
    [ $# -eq 5 ] || {
      echo "usage: softhsm.sh init DIR LABEL SOPIN PIN" >&2
      exit 2
    }
    dir="$2"
    label="$3"
    so_pin="$4"
    pin="$5"
    require_softhsm
    mkdir -p "$dir/tokens"
    dir="$(cd "$dir" && pwd)"
    conf="$dir/softhsm2.conf"
    if [ ! -f "$conf" ]; then
      cat >"$conf" <<EOF
# Private SoftHSM2 configuration written by tests/setup/softhsm.sh.
directories.tokendir = $dir/tokens/
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
EOF
    fi
    export SOFTHSM2_CONF="$conf"
    # softhsm2-util prints each token as "Label:            <label padded to 32>".
    if ! softhsm2-util --show-slots 2>/dev/null | sed -n 's/^ *Label: *//p' | sed 's/ *$//' |
      grep -Fxq -- "$label"; then
      softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin" >&2
    fi
    module_path
    ;;
  *)
    echo "usage: softhsm.sh [install] | module | init DIR LABEL SOPIN PIN" >&2
    exit 2
    ;;
esac
