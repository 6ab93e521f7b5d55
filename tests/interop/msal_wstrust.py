"""Drives fedgate with Microsoft's own WS-Trust client code: MSAL for Python (Debian python3-msal).

Usage: REQUESTS_CA_BUNDLE=ca.pem /usr/bin/python3 msal_wstrust.py MEX_URL AUDIENCE < credentials.json
credentials.json: {"username": ..., "password": ..., "wrong_password": ... | null}

Prints one JSON object:
  preferred  - what msal.mex.send_request returns (the endpoint MSAL would use; it prefers WS-Trust 1.3)
  endpoints  - every username/password endpoint MSAL's MEX parser accepts (same parser internals it uses)
  tokens     - for each endpoint, msal.wstrust_request.send_request's result: {address, action, type, token}
  fault      - with a wrong password: the error MSAL raised (it parses the SOAP fault itself), else null
Exits non-zero on any unexpected exception, so the calling test fails with the traceback.
"""
import json
import sys

import requests
import msal
from msal import mex as msal_mex
from msal import wstrust_request


def main():
    mex_url, audience = sys.argv[1], sys.argv[2]
    creds = json.load(sys.stdin)
    session = requests.Session()  # honours REQUESTS_CA_BUNDLE: certificate checks stay on

    preferred = msal_mex.send_request(mex_url, session)

    # The full list, through the same parser methods send_request uses (it only returns the preferred one).
    doc = msal_mex.Mex(session.get(mex_url).text)
    endpoints = doc._get_endpoints(doc._get_bindings(), doc._get_username_password_policy_ids())

    tokens = []
    for ep in endpoints:
        result = wstrust_request.send_request(
            creds["username"], creds["password"], audience, ep["address"], ep["action"], session)
        tokens.append({
            "address": ep["address"],
            "action": ep["action"],
            "type": result["type"],
            "token": result["token"].decode("utf-8"),
        })

    fault = None
    if creds.get("wrong_password") and preferred:
        try:
            wstrust_request.send_request(
                creds["username"], creds["wrong_password"], audience,
                preferred["address"], preferred["action"], session)
            fault = "no error raised"
        except RuntimeError as e:  # what MSAL raises for a parsed WS-Trust fault
            fault = str(e)

    json.dump({
        "msal_version": msal.__version__,
        "preferred": preferred,
        "endpoints": endpoints,
        "tokens": tokens,
        "fault": fault,
    }, sys.stdout)


if __name__ == "__main__":
    main()
