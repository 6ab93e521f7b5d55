#!/usr/bin/env bash
# Provisions the demo domain on first start (as tests/setup/samba.sh does on the test machine), with a TLS
# certificate naming dc1.corp.example.test whose CA is exported for fedgate (/export/ca/ca.pem).
set -euo pipefail
conf=/var/lib/samba/etc/smb.conf
if [ ! -f "$conf" ]; then
  mkdir -p /var/lib/samba/etc /var/lib/samba/tls /export/ca
  samba-tool domain provision --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
    --adminpass="$ADMIN_PASSWORD" --use-rfc2307 --targetdir=/var/lib/samba
  tls=/var/lib/samba/tls
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=fedgate demo DC CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.corp.example.test" -keyout "$tls/dc.key" -out "$tls/dc.csr"
  printf 'subjectAltName=DNS:dc1.corp.example.test,DNS:dc1\n' >"$tls/ext"
  openssl x509 -req -in "$tls/dc.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 825 \
    -extfile "$tls/ext" -out "$tls/dc.pem"
  chmod 600 "$tls/dc.key" "$tls/ca.key"
  sed -i "/\[global\]/a \\\\ttls keyfile = $tls/dc.key\n\\ttls certfile = $tls/dc.pem\n\\ttls cafile = $tls/ca.pem" "$conf"
  samba -s "$conf"
  sleep 5
  samba-tool user create svc-fedgate "$SVC_FEDGATE_PASSWORD" -s "$conf"
  samba-tool user setexpiry svc-fedgate --noexpiry -s "$conf"
  samba-tool user create alice 'Passw0rd!' --given-name=Alice --surname=Demo -s "$conf"
  kill "$(cat /var/lib/samba/run/samba.pid)" 2>/dev/null || true
  sleep 2
fi
cp /var/lib/samba/tls/ca.pem /export/ca/ca.pem
exec samba -s "$conf" -i
