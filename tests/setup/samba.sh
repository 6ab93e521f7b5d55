#!/usr/bin/env bash
# Starts (or reuses) the Samba AD domain controller the directory tests run against, following
# ../shared/test-environment.md: realm CORP.EXAMPLE.TEST, NetBIOS domain CORP, LDAPS on 127.0.0.1:636 with a
# test CA (strict verification stays on in the client), and a fixed set of test users.
#
# Idempotent: state lives outside the repository in /var/tmp/fedgate-test/samba and is reused across clean
# clones. A running DC is reused (one line of output); the test users are re-created when missing or when
# USERS_VERSION changes, and every run resets lockout state (see reset_lockouts).
#
# Lockout policy: threshold 5 bad passwords, 30 min window/duration, domain-wide. locked1 is locked by five
# bad binds and stays locked 12 hours (its own PSO). Tests therefore must not fail more than 2 binds against any
# other account per run; this script clears badPwdCount of every test user on each run so leftovers from earlier runs never add up.
#
# Writes /var/tmp/fedgate-test/samba/env.json (read by tests/helpers/samba.ts). Exits non-zero with a
# message on any failure.
set -Eeuo pipefail

STATE_DIR=/var/tmp/fedgate-test/samba
DC_DIR="$STATE_DIR/dc"
TLS_DIR="$STATE_DIR/tls"
CONF="$DC_DIR/etc/smb.conf"
ENV_JSON="$STATE_DIR/env.json"
LOG="$STATE_DIR/setup.log"
REALM=CORP.EXAMPLE.TEST
DOMAIN=CORP
BASE_DN=DC=corp,DC=example,DC=test
UPN_SUFFIX=corp.example.test
URL=ldaps://127.0.0.1:636
# Bump when the set of users or their attributes below changes: forces re-creation on reused DCs.
USERS_VERSION=7
TEST_USERS=(jdoe jsmith disabled1 mustchange1 expired1 acctexpired1 locked1 consistency1 fabrikam1 subdomain1 inject1 wstrust1 wstrust2
  spray1 spray2 pwchg1 pwchg2 pwchg3 spray3 cert1 cert2 cert3 cert4 certoff1 mfa1 mfa2 mfa3)
# A second UPN suffix (multi-domain issuerid tests). Samba 4.17 accepts any userPrincipalName without the suffix
# being registered; it is registered in uPNSuffixes anyway, as an AD administrator would.
SECOND_UPN_SUFFIX=fabrikam.test
# The attribute MFA enrolments are kept in (mfa.enrolment.attribute in the tests; docs/mfa-directory.md). Samba's
# schema has msDS-cloudExtensionAttribute1..20 (AD 2012 R2) but not Exchange's extensionAttributeN.
MFA_ATTRIBUTE=msDS-cloudExtensionAttribute10
# The schemaIDGUID of the user class ([MS-ADSC] §2.269), the inherited object type of the MFA grant.
USER_CLASS_GUID=bf967aba-0de6-11d0-a285-00aa003049e2
# The schema extension docs/mfa-schema.ldif documents (a confidential attribute on an auxiliary class of user),
# loaded into the test DC to prove it loads and that confidentiality holds (tests/integration/mfa-enrolments-samba).
MFA_SCHEMA_LDIF="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/docs/mfa-schema.ldif"
MFA_SCHEMA_ATTRIBUTE=fedgateMfaEnrolments

say() { echo "samba.sh: $*"; }
die() {
  echo "samba.sh: ERROR: $*" >&2
  [[ -s $LOG ]] && echo "samba.sh: last lines of $LOG:" >&2 && tail -n 15 "$LOG" >&2
  exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"
: >"$LOG"

ensure_packages() {
  local missing=0 c
  for c in samba samba-tool ldapsearch ldapmodify ldbmodify openssl; do
    command -v "$c" >/dev/null 2>&1 || missing=1
  done
  ((missing == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "Samba/OpenLDAP tools missing and not root: install samba-ad-dc samba ldap-utils ldb-tools"
  say "installing samba-ad-dc samba ldap-utils ldb-tools (about a minute)"
  apt-get update >>"$LOG" 2>&1 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y samba-ad-dc samba ldap-utils ldb-tools openssl >>"$LOG" 2>&1 ||
    die "apt-get install failed"
}

# The Debian packages start their own smbd/nmbd/winbind/samba-ad-dc services (with /etc/samba/smb.conf);
# they would hold the fixed ports or fight over them, so stop them before our DC starts.
stop_system_services() {
  local svc
  for svc in samba-ad-dc smbd nmbd winbind; do
    if [[ -x /etc/init.d/$svc ]]; then
      /etc/init.d/"$svc" stop >>"$LOG" 2>&1 || true
    fi
  done
}

pid_of_dc() {
  local pidfile="$DC_DIR/run/samba.pid"
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(tr -dc 0-9 <"$pidfile")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# ldapsearch/ldapmodify as Administrator over LDAPS, verifying the DC certificate with the test CA.
as_admin() {
  local tool=$1
  shift
  LDAPTLS_CACERT="$TLS_DIR/ca.pem" LDAPTLS_REQCERT=demand "$tool" -x -o nettimeout=5 -H "$URL" \
    -D "CN=Administrator,CN=Users,$BASE_DN" -y "$STATE_DIR/admin.pw" "$@"
}

dc_answers() { as_admin ldapsearch -LLL -b "" -s base defaultNamingContext >/dev/null 2>&1; }

make_tls() {
  [[ -s $TLS_DIR/dc.pem && -s $TLS_DIR/ca.pem ]] && return 0
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=fedgate test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout dc.key -out dc.csr -subj "/CN=localhost"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >dc.ext
    openssl x509 -req -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out dc.pem -days 3650 -extfile dc.ext
    # Samba refuses a key file readable by others.
    chmod 600 ca.key dc.key
    chmod 644 ca.pem dc.pem
  ) >>"$LOG" 2>&1 || die "creating the test CA / DC certificate failed"
}

provision() {
  say "provisioning Samba AD DC $REALM in $DC_DIR"
  rm -rf "$DC_DIR" "$ENV_JSON" "$STATE_DIR/users.version"
  mkdir -p "$DC_DIR"
  # Administrator password: random, shell-safe, meets the default complexity rules.
  # (no trailing newline: ldapsearch -y sends the file as is)
  (umask 077 && printf '%s' "Aa1-$(openssl rand -hex 12)" >"$STATE_DIR/admin.pw")
  # -s /dev/null: start from an empty configuration, not whatever /etc/samba/smb.conf holds. TLS with our
  # test CA (test-environment.md); pid and log files inside the state dir so the system samba-ad-dc service
  # (pid in /run/samba) is never confused with ours.
  samba-tool domain provision -s /dev/null --realm="$REALM" --domain="$DOMAIN" --server-role=dc \
    --dns-backend=NONE --adminpass="$(cat "$STATE_DIR/admin.pw")" --use-rfc2307 --targetdir="$DC_DIR" \
    --option="interfaces=lo" --option="bind interfaces only=yes" \
    --option="tls enabled=yes" --option="tls keyfile=$TLS_DIR/dc.key" \
    --option="tls certfile=$TLS_DIR/dc.pem" --option="tls cafile=$TLS_DIR/ca.pem" \
    --option="pid directory=$DC_DIR/run" --option="log file=$DC_DIR/log/log.%m" >>"$LOG" 2>&1 ||
    die "samba-tool domain provision failed"
  mkdir -p "$DC_DIR/run" "$DC_DIR/log"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_dc() {
  stop_system_services
  local port i
  for port in 389 636 88; do
    if port_open "$port"; then
      die "port $port on 127.0.0.1 is held by another process (one AD DC per machine; see ss -ltnp)"
    fi
  done
  samba -s "$CONF" -D >>"$LOG" 2>&1 || return 1
  for i in $(seq 1 120); do
    dc_answers && return 0
    sleep 0.5
  done
  return 1
}

stop_dc() {
  local pid i
  pid=$(pid_of_dc) || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  die "Samba AD DC (pid $pid) did not stop"
}

# Generated values are shell- and JSON-safe by construction (no quotes, backslashes or spaces) and meet the
# default complexity rules (upper, lower, digit, symbol).
new_password() { echo "Aa1-$(openssl rand -hex 10)"; }

# samba-tool against the local sam.ldb. Only the first three words go into messages: the fourth is often a
# password.
tool() { samba-tool "$@" -s "$CONF" >>"$LOG" 2>&1 || die "samba-tool ${1-} ${2-} ${3-} failed"; }

# DSDB_CONTROL_BYPASS_PASSWORD_HASH_OID lets ldbmodify write pwdLastSet directly. Over LDAP, AD and Samba only
# accept 0 or -1 there, and 0 means "must change" (773), not "expired" (532).
BYPASS_PASSWORD_HASH_OID=1.3.6.1.4.1.7165.4.3.12

user_dn() {
  if [[ $1 == jdoe ]]; then echo "CN=John Doe,CN=Users,$BASE_DN"; else echo "CN=$1,CN=Users,$BASE_DN"; fi
}

# userPrincipalName of a test user: realm suffix unless set otherwise below. inject1's holds LDAP filter syntax
# (claim-rule injection tests: unescaped it would widen `userPrincipalName={0}` to every j* account).
upn_of() {
  case $1 in
    fabrikam1) echo "fabrikam1@$SECOND_UPN_SUFFIX" ;;
    subdomain1) echo "subdomain1@eu.$SECOND_UPN_SUFFIX" ;;
    inject1) echo "j*)(sAMAccountName=*@$UPN_SUFFIX" ;;
    *) echo "$1@$UPN_SUFFIX" ;;
  esac
}

# The grant docs/mfa-directory.md tells an AD admin to make (dsacls /I:S /G "CORP\svc-fedgate:WP;attr;user"): write
# property on the MFA attribute only, inherited by user objects under CN=Users only (CIIO with the user class as
# inherited object type). Made on every run (svc-fedgate gets a new SID whenever create_users re-creates it); the
# grant to an earlier svc-fedgate stays behind naming a deleted SID, which grants nothing (samba-tool 4.17 has no
# dsacl delete).
# The schemaIDGUID of an attribute as a GUID string, read from the schema.
schema_guid_of() {
  local guid
  guid=$(as_admin ldapsearch -LLL -o ldif-wrap=no -b "CN=Schema,CN=Configuration,$BASE_DN" "(lDAPDisplayName=$1)" \
    schemaIDGUID 2>>"$LOG" | sed -n 's/^schemaIDGUID:: //p' | base64 -d | od -An -tx1 | tr -d ' \n')
  [[ ${#guid} == 32 ]] || die "schemaIDGUID of $1 not found in the schema"
  # GUID bytes are little-endian in the first three fields ([MS-DTYP] §2.3.4.2).
  echo "${guid:6:2}${guid:4:2}${guid:2:2}${guid:0:2}-${guid:10:2}${guid:8:2}-${guid:14:2}${guid:12:2}-${guid:16:4}-${guid:20:12}"
}

grant_mfa_attribute() {
  local sid container="CN=Users,$BASE_DN"
  sid=$(samba-tool user show svc-fedgate --attributes=objectSid -s "$CONF" 2>>"$LOG" | sed -n 's/^objectSid: //p')
  [[ $sid == S-1-5-21-* ]] || die "objectSid of svc-fedgate not found"
  tool dsacl set --objectdn="$container" --sddl="(OA;CIIO;WP;$(schema_guid_of "$MFA_ATTRIBUTE");$USER_CLASS_GUID;$sid)"
  # The confidential schema-extension attribute: reading it needs control access (CR, dsacls CA) besides read
  # property, so the grant is RPWPCR.
  tool dsacl set --objectdn="$container" \
    --sddl="(OA;CIIO;RPWPCR;$(schema_guid_of "$MFA_SCHEMA_ATTRIBUTE");$USER_CLASS_GUID;$sid)"
}

# Loads docs/mfa-schema.ldif once (schema changes are permanent; later runs find the attribute and do nothing).
# Samba takes schema changes only through sam.ldb with "dsdb:schema update allowed", and one ldbmodify run does
# not reload the schema between entries (ldifde does, on schemaUpdateNow), so each entry is applied on its own;
# the rootDSE schemaUpdateNow entries are left out and sent over LDAP afterwards so the running DC reloads.
extend_schema() {
  local schema="CN=Schema,CN=Configuration,$BASE_DN" part
  if as_admin ldapsearch -LLL -b "$schema" "(lDAPDisplayName=$MFA_SCHEMA_ATTRIBUTE)" 1.1 2>>"$LOG" | grep -q '^dn:'; then
    return 0
  fi
  say "loading the MFA schema extension (docs/mfa-schema.ldif)"
  [[ -f $MFA_SCHEMA_LDIF ]] || die "$MFA_SCHEMA_LDIF is missing"
  local parts
  parts=$(mktemp -d)
  sed -e 's/DC=X$/'"$BASE_DN"'/' -e '/^#/d' "$MFA_SCHEMA_LDIF" |
    awk -v dir="$parts" 'BEGIN { RS = ""; n = 0 } /^dn: ./ { n++; printf "%s\n", $0 > (dir "/" sprintf("%02d", n) ".ldif") }'
  for part in "$parts"/*.ldif; do
    ldbmodify -H "$DC_DIR/private/sam.ldb" --option="dsdb:schema update allowed=true" "$part" >>"$LOG" 2>&1 ||
      die "loading $(head -n1 "$part") from docs/mfa-schema.ldif failed"
  done
  rm -rf "$parts"
  printf 'dn:\nchangetype: modify\nadd: schemaUpdateNow\nschemaUpdateNow: 1\n-\n' | as_admin ldapmodify >>"$LOG" 2>&1 ||
    die "schemaUpdateNow failed"
  schema_guid_of "$MFA_SCHEMA_ATTRIBUTE" >/dev/null
}

create_users() {
  say "creating test users"
  local u
  for u in svc-fedgate "${TEST_USERS[@]}"; do
    samba-tool user delete "$u" -s "$CONF" >>"$LOG" 2>&1 || true
  done
  samba-tool group delete Finance -s "$CONF" >>"$LOG" 2>&1 || true
  samba-tool group delete Staff -s "$CONF" >>"$LOG" 2>&1 || true

  tool domain passwordsettings set --account-lockout-threshold=5 --reset-account-lockout-after=30 \
    --account-lockout-duration=30

  declare -gA PW=()
  for u in svc-fedgate "${TEST_USERS[@]}"; do PW[$u]=$(new_password); done

  tool user create svc-fedgate "${PW[svc-fedgate]}" --description="fedgate search service account"
  # Given name and surname make samba-tool name the entry CN=John Doe, so the DN differs from the
  # sAMAccountName (the provider must bind with the DN it found, never one built from input).
  tool user create jdoe "${PW[jdoe]}" --given-name=John --surname=Doe --mail-address="john.doe@$UPN_SUFFIX"
  tool user create jsmith "${PW[jsmith]}"
  tool user create disabled1 "${PW[disabled1]}"
  tool user disable disabled1
  tool user create mustchange1 "${PW[mustchange1]}" --must-change-at-next-login
  tool user create expired1 "${PW[expired1]}"
  tool user create acctexpired1 "${PW[acctexpired1]}"
  tool user setexpiry acctexpired1 --days=0
  tool user create locked1 "${PW[locked1]}"
  tool user create consistency1 "${PW[consistency1]}"
  tool user create fabrikam1 "${PW[fabrikam1]}"
  tool user create subdomain1 "${PW[subdomain1]}"
  tool user create inject1 "${PW[inject1]}"
  tool user create wstrust1 "${PW[wstrust1]}" # WS-Trust tests (MSAL success path)
  tool user create wstrust2 "${PW[wstrust2]}" # WS-Trust tests (one wrong password per run)
  # Account-protection users (issue 7). A fine-grained password policy (PSO) gives them AD lockout threshold 10
  # (the rest of the domain keeps 5) so a spray test can show fedgate's smart lockout (threshold below AD's)
  # stops before AD counts to its own threshold, and minimum password age 0 so they can change their password
  # more than once a day. pwchg1 must change its password (773), pwchg2's has expired (532), pwchg3 is normal.
  tool user create spray1 "${PW[spray1]}"
  tool user create spray2 "${PW[spray2]}"
  tool user create pwchg1 "${PW[pwchg1]}" --must-change-at-next-login
  tool user create pwchg2 "${PW[pwchg2]}"
  tool user create pwchg3 "${PW[pwchg3]}"
  tool user create spray3 "${PW[spray3]}" # lockout counters shared by two fedgate instances on one Redis
  # Certificate sign-in users (issue 9): the tests make the PKI and set altSecurityIdentities themselves.
  for u in cert1 cert2 cert3 cert4 certoff1; do tool user create "$u" "${PW[$u]}"; done
  tool user disable certoff1
  # MFA enrolment users (issue 16): the tests write and read their sealed enrolment record.
  for u in mfa1 mfa2 mfa3; do tool user create "$u" "${PW[$u]}"; done
  samba-tool domain passwordsettings pso delete fedgate-account-protection -s "$CONF" >>"$LOG" 2>&1 || true
  tool domain passwordsettings pso create fedgate-account-protection 10 --account-lockout-threshold=10 \
    --reset-account-lockout-after=30 --account-lockout-duration=30 --min-pwd-age=0 --complexity=on \
    --min-pwd-length=8 --history-length=3
  for u in spray1 spray2 spray3 pwchg1 pwchg2 pwchg3; do
    tool domain passwordsettings pso apply fedgate-account-protection "$u"
  done
  # locked1 stays locked for 12 hours, not the domain's 30 minutes: one lockout at preparation time must cover
  # a whole suite run however long the machine takes (the tests that expect it locked run late in the suite).
  samba-tool domain passwordsettings pso delete fedgate-locked1 -s "$CONF" >>"$LOG" 2>&1 || true
  tool domain passwordsettings pso create fedgate-locked1 20 --account-lockout-threshold=5 \
    --reset-account-lockout-after=720 --account-lockout-duration=720
  tool domain passwordsettings pso apply fedgate-locked1 locked1
  printf 'dn: %s\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 130000000000000000\n' "$(user_dn pwchg2)" |
    ldbmodify -H "$DC_DIR/private/sam.ldb" --controls="local_oid:$BYPASS_PASSWORD_HASH_OID:0" >>"$LOG" 2>&1 ||
    die "backdating pwdLastSet of pwchg2 failed"
  tool group add Staff
  tool group add Finance
  tool group addmembers Staff Finance
  tool group addmembers Finance jdoe

  # pwdLastSet in 2012, older than maxPwdAge (42 days): the right password then gets 532.
  printf 'dn: %s\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 130000000000000000\n' "$(user_dn expired1)" |
    ldbmodify -H "$DC_DIR/private/sam.ldb" --controls="local_oid:$BYPASS_PASSWORD_HASH_OID:0" >>"$LOG" 2>&1 ||
    die "backdating pwdLastSet of expired1 failed"

  # displayName, and a 16-byte mS-DS-ConsistencyGuid (what Entra Connect uses as sourceAnchor), by an LDAP
  # modify as Administrator the way an admin would on AD.
  CONSISTENCY_GUID_B64=$(openssl rand -base64 16)
  printf '%s\n' "dn: $(user_dn jdoe)" "changetype: modify" "replace: displayName" "displayName: John Doe (Finance)" "" \
    "dn: $(user_dn consistency1)" "changetype: modify" "replace: mS-DS-ConsistencyGuid" \
    "mS-DS-ConsistencyGuid:: $CONSISTENCY_GUID_B64" | as_admin ldapmodify >>"$LOG" 2>&1 ||
    die "ldapmodify of test users failed"
  # The second UPN suffix: registered on the Partitions container, then the UPNs of the users that use it.
  local partitions="CN=Partitions,CN=Configuration,$BASE_DN"
  {
    printf '%s\n' "dn: $partitions" "changetype: modify" "replace: uPNSuffixes" "uPNSuffixes: $SECOND_UPN_SUFFIX" ""
    for u in fabrikam1 subdomain1 inject1; do
      printf '%s\n' "dn: $(user_dn "$u")" "changetype: modify" "replace: userPrincipalName" \
        "userPrincipalName: $(upn_of "$u")" ""
    done
  } | as_admin ldapmodify >>"$LOG" 2>&1 || die "setting the second UPN suffix failed"
  write_env
  echo "$USERS_VERSION" >"$STATE_DIR/users.version"
}

# Clears badPwdCount and lockout of every test user (AD semantics: writing lockoutTime 0 unlocks and resets
# badPwdCount), then locks locked1 afresh with five bad binds so its 12-hour lockout (own PSO) covers this run.
# Fails when a test user is missing.
reset_lockouts() {
  local u i
  for u in svc-fedgate "${TEST_USERS[@]}"; do
    printf 'dn: %s\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n\n' "$(user_dn "$u")"
  done | as_admin ldapmodify >>"$LOG" 2>&1 || return 1
  for i in 1 2 3 4 5; do
    LDAPTLS_CACERT="$TLS_DIR/ca.pem" LDAPTLS_REQCERT=demand ldapsearch -x -o nettimeout=5 -H "$URL" \
      -D "$(user_dn locked1)" -w "Wrong-Password-$i" -b "" -s base >/dev/null 2>&1 || true
  done
  as_admin ldapsearch -LLL -b "$(user_dn locked1)" -s base msDS-User-Account-Control-Computed 2>>"$LOG" |
    grep -q '^msDS-User-Account-Control-Computed: 16$'
}

write_env() {
  local users="" u
  for u in svc-fedgate "${TEST_USERS[@]}"; do
    [[ -n $users ]] && users+=$',\n    '
    users+=$(printf '"%s": { "password": "%s", "upn": "%s", "dn": "%s" }' \
      "$u" "${PW[$u]}" "$(upn_of "$u")" "$(user_dn "$u")")
  done
  cat >"$ENV_JSON.tmp" <<EOF
{
  "urls": ["$URL"],
  "baseDn": "$BASE_DN",
  "bindDn": "$(user_dn svc-fedgate)",
  "bindPassword": "${PW[svc-fedgate]}",
  "netbiosDomain": "$DOMAIN",
  "realm": "$REALM",
  "upnSuffix": "$UPN_SUFFIX",
  "secondUpnSuffix": "$SECOND_UPN_SUFFIX",
  "caFile": "$TLS_DIR/ca.pem",
  "adminDn": "CN=Administrator,CN=Users,$BASE_DN",
  "adminPassword": "$(cat "$STATE_DIR/admin.pw")",
  "consistencyGuid": "$CONSISTENCY_GUID_B64",
  "stateDir": "$STATE_DIR",
  "users": {
    $users
  }
}
EOF
  chmod 600 "$ENV_JSON.tmp"
  mv "$ENV_JSON.tmp" "$ENV_JSON"
}

ensure_packages
make_tls
reused=0
if pid=$(pid_of_dc) && dc_answers; then
  reused=1
else
  stop_dc
  [[ -f $CONF && -f $STATE_DIR/admin.pw ]] || provision
  say "starting samba -s $CONF -D"
  if ! start_dc; then
    # A damaged state dir (interrupted provision, replaced certificates): start over once.
    stop_dc
    provision
    start_dc || die "Samba AD DC did not answer LDAPS on $URL within 60 s (logs: $DC_DIR/log/)"
  fi
fi

extend_schema
# Exchange's mailNickname and targetAddress for fedgate doctor's tests (issue 21); idempotent.
bash "$(dirname "${BASH_SOURCE[0]}")/doctor-schema.sh"
if [[ ! -f $ENV_JSON || $(cat "$STATE_DIR/users.version" 2>/dev/null) != "$USERS_VERSION" ]] || ! reset_lockouts; then
  create_users
  reset_lockouts || die "could not reset lockouts / lock out locked1 (UF_LOCKOUT missing)"
fi
# After create_users (svc-fedgate's SID changes when it is re-created); dsacl set skips an ACE already present.
grant_mfa_attribute
# A service account's password usually never expires (fedgate doctor's service-account-password check says when it
# would); tests that need an expiring one bind as another user. Idempotent: the same value every run.
printf 'dn: CN=svc-fedgate,CN=Users,%s\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 66048\n' \
  "$BASE_DN" | as_admin ldapmodify >>"$LOG" 2>&1 || die "could not set svc-fedgate's password to never expire"
if ((reused)); then
  say "reusing running Samba AD DC at $URL (pid $pid, state $STATE_DIR)"
else
  say "Samba AD DC ready at $URL (state $STATE_DIR)"
fi
