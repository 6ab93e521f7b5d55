#!/usr/bin/env bash
# Adds Exchange's mailNickname and targetAddress to the test Samba AD DC (tests/setup/exchange-schema.ldif), for
# fedgate doctor's directory tests (issue 21). Run after tests/setup/samba.sh (the DC must be up):
#   bash tests/setup/doctor-schema.sh
#
# Idempotent: schema changes are permanent, so each entry of the LDIF is applied only when what it adds is missing
# (an attribute not yet in the schema, a mayContain value not yet on Mail-Recipient); a DC that has them already is
# left alone (one line of output). Applied the way samba.sh applies docs/mfa-schema.ldif: each entry on its own
# with ldbmodify on sam.ldb and "dsdb:schema update allowed" (one ldbmodify run does not reload the schema between
# entries), then schemaUpdateNow over LDAPS so the running DC reloads. Exits non-zero with a message on failure.
set -Eeuo pipefail

STATE_DIR=/var/tmp/fedgate-test/samba
DC_DIR="$STATE_DIR/dc"
TLS_DIR="$STATE_DIR/tls"
LOG="$STATE_DIR/doctor-schema.log"
BASE_DN=DC=corp,DC=example,DC=test
SCHEMA="CN=Schema,CN=Configuration,$BASE_DN"
URL=ldaps://127.0.0.1:636
LDIF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/exchange-schema.ldif"
ATTRIBUTES=(mailNickname targetAddress)

say() { echo "doctor-schema.sh: $*"; }
die() {
  echo "doctor-schema.sh: ERROR: $*" >&2
  [[ -s $LOG ]] && echo "doctor-schema.sh: last lines of $LOG:" >&2 && tail -n 15 "$LOG" >&2
  exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

[[ -f $STATE_DIR/admin.pw && -f $DC_DIR/private/sam.ldb ]] || die "no test DC in $STATE_DIR: run bash tests/setup/samba.sh first"
[[ -f $LDIF ]] || die "$LDIF is missing"
: >"$LOG"

as_admin() {
  local tool=$1
  shift
  LDAPTLS_CACERT="$TLS_DIR/ca.pem" LDAPTLS_REQCERT=demand "$tool" -x -o nettimeout=5 -H "$URL" \
    -D "CN=Administrator,CN=Users,$BASE_DN" -y "$STATE_DIR/admin.pw" "$@"
}

has_attribute() {
  as_admin ldapsearch -LLL -b "$SCHEMA" "(lDAPDisplayName=$1)" 1.1 2>>"$LOG" | grep -q '^dn:'
}
# mayContain of Mail-Recipient (the auxiliary class user, group and contact carry) holds the attribute.
recipients_may_hold() {
  as_admin ldapsearch -LLL -o ldif-wrap=no -b "CN=Mail-Recipient,$SCHEMA" -s base mayContain 2>>"$LOG" |
    grep -qix "mayContain: $1"
}
complete() {
  local a
  for a in "${ATTRIBUTES[@]}"; do
    has_attribute "$a" && recipients_may_hold "$a" || return 1
  done
}

as_admin ldapsearch -LLL -b "" -s base defaultNamingContext >/dev/null 2>>"$LOG" ||
  die "the test DC does not answer on $URL: run bash tests/setup/samba.sh first"
if complete; then
  say "mailNickname and targetAddress already in the test DC's schema"
  exit 0
fi
say "adding mailNickname and targetAddress to the test DC's schema (tests/setup/exchange-schema.ldif)"

parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT
# The schemaUpdateNow entries (dn: empty) are left out: sam.ldb takes no rootDSE modify; the reload is sent over
# LDAP after each entry instead.
sed -e 's/DC=X$/'"$BASE_DN"'/' -e '/^#/d' "$LDIF" |
  awk -v dir="$parts" 'BEGIN { RS = ""; n = 0 } /^dn: ./ { n++; printf "%s\n", $0 > (dir "/" sprintf("%02d", n) ".ldif") }'
for part in "$parts"/*.ldif; do
  name=$(sed -n 's/^lDAPDisplayName: //p' "$part")
  if [[ -n $name ]] && has_attribute "$name"; then continue; fi
  if grep -q '^add: mayContain' "$part"; then
    # Only the values Mail-Recipient lacks (adding a value already there fails the whole modify).
    missing=()
    while read -r v; do recipients_may_hold "$v" || missing+=("$v"); done < <(sed -n 's/^mayContain: //p' "$part")
    ((${#missing[@]} == 0)) && continue
    { sed -n '1,3p' "$part"; printf 'mayContain: %s\n' "${missing[@]}"; echo '-'; } >"$part.todo"
    mv "$part.todo" "$part"
  fi
  ldbmodify -H "$DC_DIR/private/sam.ldb" --option="dsdb:schema update allowed=true" "$part" >>"$LOG" 2>&1 ||
    die "loading $(head -n1 "$part") from exchange-schema.ldif failed"
  printf 'dn:\nchangetype: modify\nadd: schemaUpdateNow\nschemaUpdateNow: 1\n-\n' | as_admin ldapmodify >>"$LOG" 2>&1 ||
    die "schemaUpdateNow failed"
done
complete || die "the schema still lacks mailNickname/targetAddress on Mail-Recipient after loading"
say "mailNickname and targetAddress added"
