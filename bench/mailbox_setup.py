#!/usr/bin/env python3
"""Prepares the mailbox benchmark: logs the citizen in at the portal (code flow with PKCE and
consent), exchanges the code, and takes a client_credentials token for the authority system.
Prints shell assignments: BK_SUB (the citizen's pairwise sub), BK_COOKIE (the browser's
session), BK_AUTHORITY_TOKEN and BK_PORTAL_TOKEN. Loopback only.

usage: mailbox_setup.py BASE PORTAL_ID PORTAL_SECRET REDIRECT AUTH_ID AUTH_SECRET EMAIL PASSWORD
"""
import base64, hashlib, http.cookiejar, json, os, re, shlex, sys, urllib.parse, urllib.request

base, portal_id, portal_secret, redirect, auth_id, auth_secret, email, password = sys.argv[1:9]
assert urllib.parse.urlparse(base).hostname in ("127.0.0.1", "localhost"), "loopback only"
jar = http.cookiejar.CookieJar()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def go(url, data=None, headers=None):
    req = urllib.request.Request(url if url.startswith("http") else base + url,
                                 data=urllib.parse.urlencode(data).encode() if data else None,
                                 headers=headers or {})
    try:
        r = opener.open(req)
        return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def basic(i, s):
    q = urllib.parse.quote_plus
    return "Basic " + base64.b64encode(f"{q(i)}:{q(s)}".encode()).decode()


verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
authorize = "/authorize?" + urllib.parse.urlencode(dict(
    client_id=portal_id, response_type="code", scope="openid mailbox.read", redirect_uri=redirect,
    code_challenge=challenge, code_challenge_method="S256", state="st"))
status, headers, body = go(authorize)
loc = headers["location"]
for _ in range(8):
    if loc.startswith(redirect):
        break
    status, headers, body = go(loc)
    if status == 200 and "<form" in body:
        action = re.search(r'<form[^>]*action="([^"]+)"', body).group(1)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
        if action == "/login":
            fields.update(email=email, password=password)
        elif action == "/consent":
            fields.update(decision="allow")
        status, headers, body = go(action, fields)
    loc = headers["location"]
code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["code"][0]
status, _, body = go("/token", dict(grant_type="authorization_code", code=code, redirect_uri=redirect,
                                    code_verifier=verifier), {"Authorization": basic(portal_id, portal_secret)})
assert status == 200, body
tokens = json.loads(body)
payload = tokens["id_token"].split(".")[1]
sub = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
status, _, body = go("/token", dict(grant_type="client_credentials", scope="mailbox.send"),
                     {"Authorization": basic(auth_id, auth_secret)})
assert status == 200, body
cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
print(f"export BK_SUB={shlex.quote(sub)}")
print(f"export BK_COOKIE={shlex.quote(cookie)}")
print(f"export BK_AUTHORITY_TOKEN={shlex.quote(json.loads(body)['access_token'])}")
print(f"export BK_PORTAL_TOKEN={shlex.quote(tokens['access_token'])}")
