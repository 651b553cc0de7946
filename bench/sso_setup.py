#!/usr/bin/env python3
"""Logs a browser in at a provider and consents once, then prints the environment for sso.lua
(SSO_COOKIE, SSO_AUTHORIZE, SSO_VERIFIER) as shell assignments. Loopback only.

usage: sso_setup.py ours BASE CLIENT_ID REDIRECT EMAIL PASSWORD
       sso_setup.py peer BASE CLIENT_ID REDIRECT
"""
import base64, hashlib, http.cookiejar, os, re, shlex, sys, urllib.parse, urllib.request

kind, base, client_id, redirect = sys.argv[1:5]
assert urllib.parse.urlparse(base).hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
jar = http.cookiejar.CookieJar()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def go(url, data=None):
    req = urllib.request.Request(url if url.startswith("http") else base + url,
                                 data=urllib.parse.urlencode(data).encode() if data else None)
    try:
        r = opener.open(req)
        return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
params = dict(client_id=client_id, response_type="code", scope="openid email", redirect_uri=redirect,
              code_challenge=challenge, code_challenge_method="S256", state="st")
if kind == "peer":
    params["resource"] = "https://api.buergerkonto.test"
authorize = ("/authorize?" if kind == "ours" else "/auth?") + urllib.parse.urlencode(params)


def hidden(body):
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))


status, headers, body = go(authorize)
loc = headers["location"]
for _ in range(8):
    if loc.startswith(redirect):
        break
    status, headers, body = go(loc)
    if status == 200 and "<form" in body:
        action = re.search(r'<form[^>]*action="([^"]+)"', body).group(1)
        fields = hidden(body)
        if kind == "ours":
            if action == "/login":
                fields.update(email=sys.argv[5], password=sys.argv[6])
            elif action == "/consent":
                fields.update(decision="allow")
        elif 'name="login"' in body:
            fields.update(login="alice", password="anything")
        status, headers, body = go(action, fields)
    loc = headers["location"]
assert loc.startswith(redirect) and "code=" in loc, loc
# A second round must go straight through (that is what the benchmark repeats).
status, headers, _ = go(authorize)
assert status in (302, 303) and headers["location"].startswith(redirect), headers.get("location")
cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
print(f"export SSO_COOKIE={shlex.quote(cookie)}")
print(f"export SSO_AUTHORIZE={shlex.quote(authorize)}")
print(f"export SSO_VERIFIER={shlex.quote(verifier)}")
print(f"export SSO_REDIRECT={shlex.quote(redirect)}")
