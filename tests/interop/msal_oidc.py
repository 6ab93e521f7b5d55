"""Drives fedgate's OpenID Connect / OAuth 2.0 endpoints with Microsoft's MSAL for Python (Debian python3-msal),
authority https://<host>/adfs, and verifies every JWT it gets with PyJWT against the JWKS named by discovery.

Usage: REQUESTS_CA_BUNDLE=ca.pem /usr/bin/python3 msal_oidc.py COMMAND
  stdin, first line: one JSON request (below). Output: JSON lines on stdout, the last one {"done": ...}.

Request (every command):
  authority   "https://<host>:<port>/adfs"
  client_id
  resolve     {"<host>": "127.0.0.1"}: host names this process resolves to loopback (the test's hosts exist only
              in the browser's and this process's resolvers, as Chromium's --host-resolver-rules)
  expect      {"id_token_issuer", "access_token_issuer", "audience"}: what PyJWT requires of iss/aud
              (the ID token's aud is always client_id)
Commands:
  auth-code   PublicClientApplication.initiate_auth_code_flow(scopes, redirect_uri) -> prints {"step": "authorize",
              "auth_uri"}; reads one line {"auth_response": {query parameters the redirect carried}} ->
              acquire_token_by_auth_code_flow; then, with "refresh": true, the refresh round (below).
  device      initiate_device_flow(scopes) -> prints {"step": "device", flow without device_code} ->
              acquire_token_by_device_flow (MSAL polls at the server's interval).
  password    acquire_token_by_username_password(username, password, scopes); "refresh" as for auth-code.
  client      ConfidentialClientApplication(client_credential = "secret" or {"private_key", "thumbprint"})
              .acquire_token_for_client(scopes).
Refresh round: acquire_token_silent_with_error (MSAL's cache, or its refresh token when no cached access token fits
the scopes), acquire_token_silent_with_error(force_refresh=True) (MSAL redeems the refresh token it holds), acquire_token_by_refresh_token(the newest refresh token), then the first refresh token
again (reuse after rotation).

Each MSAL answer is reported as {"call", "result" (MSAL's dict, or {"exception"}), "verified": {"id_token",
"access_token"}} where each verified entry is {"header", "claims"} or {"error"}. "http" lists every request MSAL
sent (method, url, status, the OAuth error of a 4xx), from a recording requests.Session handed to MSAL; each is
also printed as it happens ({"http": entry}).
Exits non-zero on an unexpected exception in the driver itself, so the calling test fails with the traceback.
"""
import base64
import hashlib
import json
import socket
import sys

import jwt
import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def read_line():
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("stdin closed before the expected line")
    return json.loads(line)


def map_hosts(resolve):
    """Resolves the test's host names to loopback in this process only; TLS still checks the name (SNI, SAN)."""
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode("ascii")
        return original(resolve.get(host, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


class RecordingSession(requests.Session):
    """A requests session (REQUESTS_CA_BUNDLE honoured, certificate checks on) that notes what MSAL sent."""

    def __init__(self):
        super().__init__()
        self.log = []

    def request(self, method, url, *args, **kwargs):
        resp = super().request(method, url, *args, **kwargs)
        entry = {"method": method, "url": url, "status": resp.status_code}
        data = kwargs.get("data")
        if isinstance(data, dict):
            entry["grant_type"] = data.get("grant_type")
            entry["sent"] = sorted(data.keys())
        if resp.status_code >= 400:
            try:
                entry["error"] = resp.json().get("error")
            except ValueError:
                entry["error"] = resp.text[:200]
        self.log.append(entry)
        out({"http": entry})  # live, so the test can act between MSAL's polls
        return resp


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Verifier:
    """PyJWT with the keys of discovery's jwks_uri; each key's x5c certificate must carry that public key and its
    SHA-1 thumbprint must be the kid and x5t (AD FS publishes the token-signing certificate that way)."""

    def __init__(self, session, authority):
        self.discovery = session.get(authority + "/.well-known/openid-configuration").json()
        self.jwks = session.get(self.discovery["jwks_uri"]).json()
        self.keys = {}
        self.key_problems = []
        for jwk in self.jwks.get("keys", []):
            key = jwt.PyJWK(jwk).key
            der = base64.b64decode(jwk["x5c"][0])
            cert = x509.load_der_x509_certificate(der)
            spki = serialization.PublicFormat.SubjectPublicKeyInfo
            same = cert.public_key().public_bytes(serialization.Encoding.DER, spki) == key.public_bytes(
                serialization.Encoding.DER, spki)
            thumb = b64url(hashlib.sha1(der).digest())
            if not same:
                self.key_problems.append("x5c does not hold the JWK's key: " + jwk.get("kid", "?"))
            if jwk.get("kid") != thumb or jwk.get("x5t") != thumb:
                self.key_problems.append("kid/x5t is not the x5c thumbprint: " + jwk.get("kid", "?"))
            self.keys[jwk.get("kid")] = key

    def verify(self, token, audience, issuer):
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(header.get("kid"))
            if key is None:
                return {"error": "no JWKS key with kid %r" % header.get("kid"), "header": header}
            claims = jwt.decode(
                token, key=key, algorithms=["RS256"], audience=audience, issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud"], "verify_signature": True})
            return {"header": header, "claims": claims}
        except jwt.PyJWTError as e:
            return {"error": "%s: %s" % (type(e).__name__, e)}


def report(call, result, req, verifier, client_id):
    verified = {}
    expect = req.get("expect", {})
    if isinstance(result, dict) and result.get("id_token"):
        verified["id_token"] = verifier.verify(result["id_token"], client_id, expect.get("id_token_issuer"))
    if isinstance(result, dict) and result.get("access_token"):
        verified["access_token"] = verifier.verify(
            result["access_token"], expect.get("audience"), expect.get("access_token_issuer"))
    out({"call": call, "result": result, "verified": verified})
    return result


def attempt(fn):
    """MSAL returns OAuth errors as dicts; it raises on client-side problems (e.g. ID token checks): report both."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - reported to the test, which decides
        return {"exception": "%s: %s" % (type(e).__name__, e)}


def refresh_round(app, req, verifier, first, report_to):
    scopes = req["scopes"]
    accounts = app.get_accounts()
    out({"call": "get_accounts", "result": accounts})
    if not accounts:
        return
    account = accounts[0]
    # The _with_error form: same lookup and refresh as acquire_token_silent, but a refused refresh comes back as
    # MSAL's error dict instead of None.
    report_to("acquire_token_silent", attempt(
        lambda: app.acquire_token_silent_with_error(scopes, account=account)))
    forced = report_to("acquire_token_silent(force_refresh)", attempt(
        lambda: app.acquire_token_silent_with_error(scopes, account=account, force_refresh=True)))
    newest = (forced or {}).get("refresh_token") or first.get("refresh_token")
    by_rt = report_to("acquire_token_by_refresh_token", attempt(
        lambda: app.acquire_token_by_refresh_token(newest, scopes)))
    if first.get("refresh_token"):
        report_to("acquire_token_by_refresh_token(first, reused)", attempt(
            lambda: app.acquire_token_by_refresh_token(first["refresh_token"], scopes)))
    if (by_rt or {}).get("refresh_token"):
        report_to("acquire_token_by_refresh_token(after reuse)", attempt(
            lambda: app.acquire_token_by_refresh_token(by_rt["refresh_token"], scopes)))


def main():
    command = sys.argv[1]
    req = read_line()
    map_hosts(req.get("resolve", {}))
    session = RecordingSession()
    verifier = Verifier(session, req["authority"])
    out({"msal_version": msal.__version__, "pyjwt_version": jwt.__version__,
         "discovery": verifier.discovery, "jwks": verifier.jwks, "key_problems": verifier.key_problems})
    client_id = req["client_id"]

    def report_to(call, result):
        return report(call, result, req, verifier, client_id)

    if command == "client":
        cred = req["credential"]
        app = msal.ConfidentialClientApplication(
            client_id, client_credential=cred, authority=req["authority"], http_client=session)
        report_to("acquire_token_for_client", attempt(lambda: app.acquire_token_for_client(req["scopes"])))
    else:
        app = msal.PublicClientApplication(client_id, authority=req["authority"], http_client=session)
        first = None
        if command == "auth-code":
            flow = app.initiate_auth_code_flow(
                req["scopes"], redirect_uri=req["redirect_uri"], login_hint=req.get("login_hint"))
            out({"step": "authorize", "auth_uri": flow["auth_uri"]})
            auth_response = read_line()["auth_response"]
            first = report_to("acquire_token_by_auth_code_flow", attempt(
                lambda: app.acquire_token_by_auth_code_flow(flow, auth_response)))
        elif command == "device":
            flow = app.initiate_device_flow(req["scopes"])
            out({"step": "device", "flow": {k: v for k, v in flow.items() if k != "device_code"}})
            if "user_code" in flow:
                first = report_to("acquire_token_by_device_flow", attempt(
                    lambda: app.acquire_token_by_device_flow(flow)))
        elif command == "password":
            first = report_to("acquire_token_by_username_password", attempt(
                lambda: app.acquire_token_by_username_password(
                    req["username"], req["password"], req["scopes"])))
        else:
            raise SystemExit("unknown command " + command)
        if req.get("refresh") and isinstance(first, dict) and first.get("access_token"):
            refresh_round(app, req, verifier, first, report_to)
    out({"done": True, "http": session.log})


if __name__ == "__main__":
    main()
