#!/usr/bin/env bash
# The demo domain controller of docker/compose.yaml (not for production: one DC, one demo user).
# First start: provisions CORP.EXAMPLE.TEST (as tests/setup/samba.sh does on a test machine), with a TLS certificate
# naming dc1.corp.example.test, and creates the service account fedgate binds with (svc-fedgate) and the demo user
# alice (password Passw0rd!, UPN alice@corp.example.test). Every start: exports the DC's CA to /export/ca/ca.pem
# (fedgate's directory.tls.ca) and runs samba in the foreground.
set -euo pipefail
state=/var/lib/samba
conf=$state/etc/smb.conf
tls=$state/tls
marker=$state/.demo-provisioned

if [ ! -f "$marker" ]; then
  # A first start that stopped half way (container stopped during provisioning) leaves a partial domain that
  # samba-tool cannot finish: start over from an empty volume.
  find "$state" -mindepth 1 -delete
  mkdir -p "$tls" /export/ca
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=fedgate demo DC CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.corp.example.test" -keyout "$tls/dc.key" \
    -out "$tls/dc.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:dc1.corp.example.test,DNS:dc1" "extendedKeyUsage=serverAuth" >"$tls/ext"
  openssl x509 -req -in "$tls/dc.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 825 \
    -extfile "$tls/ext" -out "$tls/dc.pem" 2>/dev/null
  # Samba refuses a key file others can read.
  chmod 600 "$tls/dc.key" "$tls/ca.key"
  # NT ACLs go to a tdb (xattr_tdb), not to security.* extended attributes, which need CAP_SYS_ADMIN that a
  # container does not have (provisioning fails on the sysvol ACL: NT_STATUS_ACCESS_DENIED). The demo DC serves LDAP
  # only: no file shares are used.
  samba-tool domain provision --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
    --adminpass="$ADMIN_PASSWORD" --use-rfc2307 --targetdir="$state" \
    --option="tls enabled=yes" --option="tls keyfile=$tls/dc.key" --option="tls certfile=$tls/dc.pem" \
    --option="tls cafile=$tls/ca.pem" \
    --option="vfs objects=dfs_samba4 acl_xattr xattr_tdb"
  # Users are written straight into the new domain's database (no server running yet).
  samba-tool user create svc-fedgate "$SVC_FEDGATE_PASSWORD" --description="fedgate search account" -s "$conf"
  samba-tool user setexpiry svc-fedgate --noexpiry -s "$conf"
  samba-tool user create alice 'Passw0rd!' --given-name=Alice --surname=Demo -s "$conf"
  samba-tool user setexpiry alice --noexpiry -s "$conf"
  touch "$marker"
fi
mkdir -p /export/ca
cp "$tls/ca.pem" /export/ca/ca.pem
exec samba -s "$conf" -i
