#!/usr/bin/env bash
# Microsoft's MSAL for Python and PyJWT (Debian python3-msal, python3-jwt; python3-cryptography for RS256) for the
# OpenID Connect / OAuth 2.0 interop tests (tests/interop/oidc-msal.test.ts, issue 19) and the WS-Trust ones.
# Idempotent: installs with apt-get only what Debian's python3 (not pyenv's) cannot import; prints the versions.
set -euo pipefail

py=/usr/bin/python3
have() { [ -x "$py" ] && "$py" -c "$1" >/dev/null 2>&1; }

need=()
[ -x "$py" ] || need+=(python3)
have 'import msal' || need+=(python3-msal)
have 'import jwt' || need+=(python3-jwt)
have 'import jwt.algorithms as a; assert a.has_crypto' || need+=(python3-cryptography)

if [ "${#need[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "msal.sh: installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # prepare.sh has run apt-get update already when it installed something.
  [ "${FEDGATE_APT_UPDATED:-}" = "1" ] || "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/fedgate-apt-msal.log 2>&1 || {
    tail -30 /tmp/fedgate-apt-msal.log >&2
    echo "msal.sh: apt-get install ${need[*]} failed" >&2
    exit 1
  }
fi

"$py" -c 'import msal, jwt; print("msal", msal.__version__, "pyjwt", jwt.__version__)'
