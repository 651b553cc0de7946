#!/usr/bin/env python3
"""Self-check for tests/saml/idp.py: starts it, plays an SP against it, verifies with xmlsec1.

python3 tests/saml/check_idp.py  -> prints "ALL OK" (exit 0) or the first failure (exit 1).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.error import HTTPError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#", "xenc": "http://www.w3.org/2001/04/xmlenc#",
      "md": "urn:oasis:names:tc:SAML:2.0:metadata",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
AUTHNREQUEST = "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"
SP_ENTITY, ACS = "http://127.0.0.1:1/sp", "http://127.0.0.1:1/acs"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ATTRS = {"urn:oid:2.5.4.42": "Erika", "urn:oid:2.5.4.4": "Mustermann",
         "urn:oid:1.2.40.0.10.2.1.1.261.94": "STORK-QAA-Level-4"}
TMP = tempfile.mkdtemp(prefix="check-idp-")
step = 0


def check(cond, what):
    global step
    step += 1
    if not cond:
        print(f"FAIL [{step}]: {what}\n(files and idp.log kept in {TMP})", flush=True)
        raise SystemExit(1)


def q(tag):
    p, t = tag.split(":")
    return f"{{{NS[p]}}}{t}"


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def keypair(name):
    key, crt = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", f"/CN={name}", "-keyout", key, "-out", crt], check=True, capture_output=True)
    b64 = "".join(l.strip() for l in open(crt) if "-----" not in l)
    return {"key": key, "crt": crt, "b64": b64,
            "priv": serialization.load_pem_private_key(open(key, "rb").read(), None)}


def xmlsec(*args):
    p = subprocess.run(["xmlsec1", *args], capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def sig_template(ref):
    return (f'<ds:Signature xmlns:ds="{NS["ds"]}"><ds:SignedInfo>'
            '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#{ref}"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>'
            '</ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/>'
            '</ds:X509Data></ds:KeyInfo></ds:Signature>')


def xmlsec_sign(xml, kp, id_attr):
    rc, out, err = xmlsec("--sign", "--privkey-pem", f"{kp['key']},{kp['crt']}", f"--id-attr:ID", id_attr,
                          write("tosign.xml", xml))
    check(rc == 0, f"xmlsec1 --sign: {err}")
    return out


def sp_metadata(signing, encryption, meta_key):
    def kd(use, kp):
        return (f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{kp["b64"]}'
                '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>')
    xml = (f'<md:EntityDescriptor xmlns:md="{NS["md"]}" xmlns:ds="{NS["ds"]}" ID="md1" entityID="{SP_ENTITY}">'
           + sig_template("md1") +
           '<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" '
           'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
           + "".join(kd("signing", k) for k in signing) + "".join(kd("encryption", k) for k in encryption) +
           '<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>'
           '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
           f'Location="{ACS}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>')
    return xmlsec_sign(xml, meta_key, "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor")


def authn_request(req_id, destination, issuer=SP_ENTITY, acs=ACS, signature=""):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{req_id}" '
            f'Version="2.0" IssueInstant="{now}" Destination="{destination}" '
            f'AssertionConsumerServiceURL="{acs}" '
            'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
            f'<saml:Issuer>{issuer}</saml:Issuer>{signature}'
            '<samlp:Extensions><akdb:AuthenticationRequest xmlns:akdb="https://www.akdb.de/request/2018/09" '
            'Version="2"><akdb:RequestedAttributes>'
            '<akdb:RequestedAttribute Name="urn:oid:2.5.4.42" RequiredAttribute="true"/>'
            '<akdb:RequestedAttribute Name="urn:oid:2.5.4.4" RequiredAttribute="true"/>'
            '<akdb:RequestedAttribute Name="urn:oid:0.9.2342.19200300.100.1.3" RequiredAttribute="false"/>'
            '<akdb:RequestedAttribute Name="urn:oid:1.3.6.1.4.1.25484.494450.3"/>'
            '</akdb:RequestedAttributes></akdb:AuthenticationRequest></samlp:Extensions>'
            '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>'
            '<samlp:RequestedAuthnContext Comparison="minimum">'
            '<saml:AuthnContextClassRef>STORK-QAA-Level-4</saml:AuthnContextClassRef>'
            '</samlp:RequestedAuthnContext></samlp:AuthnRequest>')


def http(method, url, body=None, ctype=None):
    req = Request(url, data=body, method=method, headers={"Content-Type": ctype} if ctype else {})
    try:
        with urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except HTTPError as e:
        return e.code, e.read().decode()


def redirect_query(xml, kp, relay="state-42", lowercase=False, tamper=False):
    enc = lambda s: quote(s, safe="")  # noqa: E731
    if lowercase:  # a different, equally valid percent-encoding: the IdP must verify the raw bytes
        enc = lambda s: re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(s, safe=""))  # noqa: E731
    deflated = zlib.compress(xml.encode())[2:-4]
    parts = [f"SAMLRequest={enc(base64.b64encode(deflated).decode())}", f"RelayState={enc(relay)}",
             f"SigAlg={enc(RSA_SHA256)}"]
    signed = "&".join(parts).encode()
    sig = kp["priv"].sign(signed, padding.PKCS1v15(), hashes.SHA256())
    if tamper:
        parts[1] = "RelayState=evil"
    return "&".join(parts) + "&Signature=" + enc(base64.b64encode(sig).decode())


class Forms(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": a.get("method"), "action": a.get("action"), "fields": {}})
        elif tag in ("input", "textarea", "select") and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def login(base, key, mischief="none", **extra):
    fields = {"key": key, "subject": "pseudonym-4711", "attributes": json.dumps(ATTRS), "mischief": mischief}
    fields.update(extra)
    status, page = http("POST", base + "/login", urlencode(fields).encode(), "application/x-www-form-urlencoded")
    check(status == 200, f"/login {mischief}: {status} {page}")
    form = Forms(page).forms[0]
    check(form["method"] == "post" and form["action"] == ACS, f"POST form to ACS: {form}")
    check(form["fields"].get("RelayState") == "state-42", "RelayState passed through")
    xml = base64.b64decode(form["fields"]["SAMLResponse"]).decode()
    return xml, write(f"resp-{mischief}-{time.monotonic_ns()}.xml", xml)


def verify(path, crt, id_attr=RESPONSE, node_id=None, strict=False):
    extra = ["--enabled-key-data", "raw-x509-cert"] if strict else []
    extra += ["--node-id", node_id] if node_id else []
    return xmlsec("--verify", *extra, "--pubkey-cert-pem", crt, f"--id-attr:ID", id_attr, path)[0] == 0


def own_decrypt(root, kp):
    """Decrypt like samael does: RSA-OAEP(SHA-1) key, then AES-GCM/CBC over the CipherValue."""
    ed = root.find("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    alg = ed.find("xenc:EncryptionMethod", NS).get("Algorithm")
    ek = ed.find("ds:KeyInfo/xenc:EncryptedKey", NS)
    check(ek.find("xenc:EncryptionMethod", NS).get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
          "key transport rsa-oaep-mgf1p")
    sym = kp["priv"].decrypt(base64.b64decode(ek.find("xenc:CipherData/xenc:CipherValue", NS).text),
                             padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    data = base64.b64decode(ed.find("xenc:CipherData/xenc:CipherValue", NS).text)
    if alg == "http://www.w3.org/2009/xmlenc11#aes128-gcm":
        return alg, AESGCM(sym).decrypt(data[:12], data[12:], None), True
    check(alg == "http://www.w3.org/2001/04/xmlenc#aes128-cbc", f"data encryption alg {alg}")
    d = Cipher(algorithms.AES(sym), modes.CBC(data[:16])).decryptor()
    padded = d.update(data[16:]) + d.finalize()
    n = padded[-1]
    return alg, padded[:-n], padded[-n:] == bytes([n]) * n  # (is it also valid PKCS#7?)


def check_assertion(a, req_id, level_ref="STORK-QAA-Level-4", audience=SP_ENTITY, recipient=ACS, attrs=ATTRS):
    check(a.find("saml:Issuer", NS).text == IDP_ENTITY, "assertion issuer")
    nid = a.find("saml:Subject/saml:NameID", NS)
    check(nid.text == "pseudonym-4711" and nid.get("Format").endswith("nameid-format:persistent"), "NameID")
    sc = a.find("saml:Subject/saml:SubjectConfirmation", NS)
    scd = sc.find("saml:SubjectConfirmationData", NS)
    check(sc.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer", "bearer")
    check(scd.get("Recipient") == recipient, f"Recipient {scd.get('Recipient')}")
    check(scd.get("InResponseTo") == req_id, "SubjectConfirmationData InResponseTo")
    check(a.find("saml:Conditions/saml:AudienceRestriction/saml:Audience", NS).text == audience, "Audience")
    check(a.find("saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef", NS).text == level_ref,
          "AuthnContextClassRef")
    got = {at.get("Name"): at.find("saml:AttributeValue", NS) for at in a.iter(q("saml:Attribute"))}
    check({k: v.text for k, v in got.items()} == attrs, f"attributes {got}")
    for at in a.iter(q("saml:Attribute")):
        check(at.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "NameFormat uri")
        check(at.find("saml:AttributeValue", NS).get(q("xsi:type")) == "xs:string", "xsi:type xs:string")
    return scd.get("NotOnOrAfter"), a.find("saml:Conditions", NS).get("NotOnOrAfter")


def check_response(xml, path, req_id, kp, **kw):
    """The normal case: signed Response with one EncryptedAssertion holding a signed assertion."""
    root = ET.fromstring(xml)
    check(root.tag == q("samlp:Response") and root.get("Destination") == ACS and root.get("InResponseTo") == req_id,
          "Response Destination / InResponseTo")
    check(root.find("saml:Issuer", NS).text == IDP_ENTITY, "Response Issuer")
    check(root.find("samlp:Status/samlp:StatusCode", NS).get("Value").endswith(":Success"), "status Success")
    check(len(root.findall("saml:EncryptedAssertion", NS)) == 1 and root.find("saml:Assertion", NS) is None,
          "exactly one EncryptedAssertion and no plain Assertion")
    sigs = root.findall(".//ds:Signature", NS)
    check(len(sigs) == 1 and root.find("ds:Signature", NS) is sigs[0], "one enveloped signature, child of Response")
    sig = sigs[0]
    check(sig.find("ds:SignedInfo/ds:Reference", NS).get("URI") == "#" + root.get("ID"), "Reference URI #ResponseID")
    check(sig.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == RSA_SHA256, "RSA-SHA256")
    check(sig.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm")
          == "http://www.w3.org/2001/10/xml-exc-c14n#", "exc-c14n")
    check(sig.find("ds:SignedInfo/ds:Reference/ds:DigestMethod", NS).get("Algorithm")
          == "http://www.w3.org/2001/04/xmlenc#sha256", "SHA-256 digest")
    check(verify(path, IDP_CRT), "xmlsec1 --verify of the Response with idp.crt")
    check(verify(path, IDP_CRT, strict=True), "xmlsec1 --verify (raw-x509-cert only) of the Response")
    rc, dec, err = xmlsec("--decrypt", "--privkey-pem", kp["key"], path)
    check(rc == 0, f"xmlsec1 --decrypt with the SP key: {err}")
    droot = ET.fromstring(dec)
    assertions = droot.findall("saml:EncryptedAssertion/saml:Assertion", NS)
    check(len(assertions) == 1, "decrypted EncryptedAssertion holds one Assertion")
    times = check_assertion(assertions[0], req_id, **kw)
    # like samael: decrypt by hand, then parse the plaintext on its own and check its signature on its own
    alg, plain, pkcs7 = own_decrypt(root, kp)
    standalone = ET.fromstring(plain)  # must be namespace-self-contained
    check(standalone.get("ID") == assertions[0].get("ID"), "stand-alone plaintext is the assertion")
    a_path = write(f"assertion-{time.monotonic_ns()}.xml", plain)
    check(verify(a_path, IDP_CRT, ASSERTION), "inner assertion signature verifies stand-alone")
    check(verify(a_path, IDP_CRT, ASSERTION, strict=True), "inner assertion signature (strict)")
    return root, assertions[0], times, alg, pkcs7


def main():
    global IDP_ENTITY, IDP_CRT
    sp, sp2, evil = keypair("sp"), keypair("sp2"), keypair("evil")
    idp_dir = os.path.join(TMP, "idp")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "idp.py"), "--dir", idp_dir],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(TMP, "idp.log"), "w"), text=True)
    try:
        line = proc.stdout.readline().strip()
        check(re.fullmatch(r"READY http://127\.0\.0\.1:\d+", line) is not None, f"READY line, got {line!r}")
        base = line.split()[1]
        IDP_ENTITY, IDP_CRT = base + "/idp", os.path.join(idp_dir, "idp.crt")
        run(base, sp, sp2, evil, idp_dir)
    finally:
        proc.terminate()
        proc.wait(10)
    shutil.rmtree(TMP, ignore_errors=True)
    print("ALL OK")


def run(base, sp, sp2, evil, idp_dir):
    # --- metadata
    md_file = open(os.path.join(idp_dir, "idp-metadata.xml")).read()
    status, md_http = http("GET", base + "/metadata")
    check(status == 200 and md_http == md_file, "GET /metadata == idp-metadata.xml")
    mroot = ET.fromstring(md_http)
    check(mroot.get("entityID") == IDP_ENTITY, "IdP entityID")
    ssos = {s.get("Binding").rsplit(":", 1)[1]: s.get("Location")
            for s in mroot.iter(q("md:SingleSignOnService"))}
    check(ssos == {"HTTP-Redirect": base + "/sso/redirect", "HTTP-POST": base + "/sso/post"}, f"SSO {ssos}")
    kd = mroot.find(".//md:KeyDescriptor", NS)
    idp_b64 = "".join(l.strip() for l in open(IDP_CRT) if "-----" not in l)
    check(kd.get("use") == "signing" and kd.find(".//ds:X509Certificate", NS).text == idp_b64, "signing cert")
    status, _ = http("GET", base + "/sso/redirect?" + redirect_query(authn_request("_r0", base + "/sso/redirect"), sp))
    check(status == 400, "AuthnRequest before /setup/sp -> 400")

    # --- SP setup
    status, body = http("POST", base + "/setup/sp", sp_metadata([sp], [sp], sp).encode(), "application/xml")
    check(status == 204, f"/setup/sp -> 204, got {status} {body}")

    # --- signed HTTP-Redirect AuthnRequest
    redirect, post = base + "/sso/redirect", base + "/sso/post"
    status, page = http("GET", redirect + "?" + redirect_query(authn_request("_req1", redirect), sp))
    check(status == 200, f"signed redirect AuthnRequest accepted: {status} {page}")
    form = Forms(page).forms[0]
    check(form["method"] == "post" and form["action"] == "/login" and form["fields"].get("key"), "login form")
    key = form["fields"]["key"]
    status, body = http("GET", base + "/last-request")
    last = json.loads(body)
    check(status == 200 and last["id"] == "_req1" and last["issuer"] == SP_ENTITY and last["destination"] == redirect
          and last["acs_url"] == ACS and last["signed"] is True and last["binding"] == "redirect"
          and last["comparison"] == "minimum" and last["authn_context_class_refs"] == ["STORK-QAA-Level-4"]
          and last["key"] == key and last["xml"].startswith("<samlp:AuthnRequest"), f"/last-request {last}")
    check(last["requested_attributes"] == [
        {"name": "urn:oid:2.5.4.42", "required": True}, {"name": "urn:oid:2.5.4.4", "required": True},
        {"name": "urn:oid:0.9.2342.19200300.100.1.3", "required": False},
        {"name": "urn:oid:1.3.6.1.4.1.25484.494450.3", "required": False}], f"requested attrs {last}")
    status, _ = http("GET", redirect + "?" + redirect_query(authn_request("_req1b", redirect), sp, lowercase=True))
    check(status == 200, "redirect signature is checked over the raw (lower-case %xx) query")

    # --- refused AuthnRequests
    deflated = base64.b64encode(zlib.compress(authn_request("_u", redirect).encode())[2:-4]).decode()
    for what, url in [
        ("unsigned redirect", redirect + "?" + urlencode({"SAMLRequest": deflated, "RelayState": "x"})),
        ("redirect signed by a foreign key", redirect + "?" + redirect_query(authn_request("_e", redirect), evil)),
        ("redirect with tampered RelayState", redirect + "?" + redirect_query(authn_request("_t", redirect), sp,
                                                                                 tamper=True)),
        ("redirect from an unknown issuer", redirect + "?" + redirect_query(
            authn_request("_i", redirect, issuer="https://evil.example/sp"), sp)),
        ("redirect with an ACS URL not in metadata", redirect + "?" + redirect_query(
            authn_request("_a", redirect, acs="https://evil.example/acs"), sp)),
        ("redirect with the POST Destination", redirect + "?" + redirect_query(authn_request("_d", post), sp)),
    ]:
        status, body = http("GET", url)
        check(status == 400 and body, f"{what} -> 400 with reason, got {status} {body}")

    def post_req(xml):
        return http("POST", post, urlencode({"SAMLRequest": base64.b64encode(xml.encode()).decode(),
                                             "RelayState": "state-42"}).encode(),
                    "application/x-www-form-urlencoded")
    signed_post = xmlsec_sign(authn_request("_req2", post, signature=sig_template("_req2")), sp, AUTHNREQUEST)
    status, body = post_req(authn_request("_u2", post))
    check(status == 400, f"unsigned POST AuthnRequest -> 400, got {status} {body}")
    status, body = post_req(xmlsec_sign(authn_request("_e2", post, signature=sig_template("_e2")), evil, AUTHNREQUEST))
    check(status == 400, f"POST AuthnRequest signed by a foreign key -> 400, got {status}")
    status, body = post_req(signed_post.replace('RequiredAttribute="false"', 'RequiredAttribute="true"'))
    check(status == 400, f"tampered POST AuthnRequest -> 400, got {status}")
    status, body = http("GET", base + "/last-request")
    check(json.loads(body)["id"] == "_req1b", "refused requests do not replace /last-request")

    # --- signed HTTP-POST AuthnRequest
    status, page = post_req(signed_post)
    check(status == 200, f"signed POST AuthnRequest accepted: {status} {page}")
    post_key = Forms(page).forms[0]["fields"]["key"]
    last = json.loads(http("GET", base + "/last-request")[1])
    check(last["binding"] == "post" and last["id"] == "_req2" and last["comparison"] == "minimum"
          and len(last["requested_attributes"]) == 4 and last["relay_state"] == "state-42", f"POST last {last}")

    # --- the normal response (both request kinds), fresh IDs each time
    xml, path = login(base, key)
    root, a, (scd_noa, cond_noa), alg, pkcs7 = check_response(xml, path, "_req1", sp)
    now = time.time()
    for t in (scd_noa, cond_noa):
        ts = datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        check(now + 200 < ts < now + 400, f"NotOnOrAfter ~ now + 5 min: {t}")
    check(alg == "http://www.w3.org/2009/xmlenc11#aes128-gcm", f"default data encryption aes128-gcm, got {alg}")
    xml2, path2 = login(base, key)
    root2, a2, *_ = check_response(xml2, path2, "_req1", sp)
    check(root2.get("ID") != root.get("ID") and a2.get("ID") != a.get("ID"), "fresh Response and Assertion IDs")
    xml3, path3 = login(base, post_key, level="3", vocab="eidas")
    check_response(xml3, path3, "_req2", sp, level_ref="http://eidas.europa.eu/LoA/substantial")
    xml4, path4 = login(base, post_key, level="1", vocab="eidas", attributes="")
    check_response(xml4, path4, "_req2", sp, level_ref="http://eidas.europa.eu/LoA/low", attrs={})
    xml5, path5 = login(base, key, level="2")
    check_response(xml5, path5, "_req1", sp, level_ref="STORK-QAA-Level-2")
    cbc_not_pkcs7 = 0
    for _ in range(4):
        xml6, path6 = login(base, key, enc="aes128-cbc")
        *_, alg6, pkcs7 = check_response(xml6, path6, "_req1", sp)
        check(alg6 == "http://www.w3.org/2001/04/xmlenc#aes128-cbc", "enc=aes128-cbc honoured")
        cbc_not_pkcs7 += not pkcs7
    if cbc_not_pkcs7:
        print(f"note: {cbc_not_pkcs7}/4 aes128-cbc ciphertexts from xmlsec1 are not PKCS#7-padded "
              "(XML Encryption padding: random bytes + length); a strict PKCS#7 decrypter rejects them")

    # --- bad /login input
    for fields, what in [({"key": "nope", "subject": "x"}, "unknown key"), ({"key": key}, "missing subject"),
                         ({"key": key, "subject": "x", "level": "5"}, "level 5"),
                         ({"key": key, "subject": "x", "mischief": "bogus"}, "unknown mischief")]:
        status, _ = http("POST", base + "/login", urlencode(fields).encode(), "application/x-www-form-urlencoded")
        check(status == 400, f"/login with {what} -> 400, got {status}")

    # --- mischief
    def decrypted(path, kp=sp):
        rc, dec, err = xmlsec("--decrypt", "--privkey-pem", kp["key"], path)
        check(rc == 0, f"decrypt {path}: {err}")
        return ET.fromstring(dec).find("saml:EncryptedAssertion/saml:Assertion", NS)

    xml, path = login(base, key, "unsigned")
    check("Signature" not in xml and not verify(path, IDP_CRT), "unsigned: no signature on the Response")
    a = decrypted(path)
    check(a.find("ds:Signature", NS) is None, "unsigned: no signature on the assertion")
    check_assertion(a, "_req1")

    xml, path = login(base, key, "expired")
    check(verify(path, IDP_CRT), "expired: signed")
    a = decrypted(path)
    scd_noa, cond_noa = check_assertion(a, "_req1")
    for t in (scd_noa, cond_noa, a.get("IssueInstant"), ET.fromstring(xml).get("IssueInstant")):
        ts = datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        check(ts < time.time() - 3000, f"expired: {t} is in the past")

    xml, path = login(base, key, "audience")
    check(verify(path, IDP_CRT), "audience: signed")
    check_assertion(decrypted(path), "_req1", audience="https://other-sp.example/")

    xml, path = login(base, key, "recipient")
    check(verify(path, IDP_CRT), "recipient: signed")
    check_assertion(decrypted(path), "_req1", recipient="https://other-sp.example/acs")

    xml, path = login(base, key, "destination")
    check(verify(path, IDP_CRT) and ET.fromstring(xml).get("Destination") == "https://other-sp.example/acs",
          "destination: signed, Destination other-sp")
    check_assertion(decrypted(path), "_req1")

    for m, inner in [("cancel", "AuthnFailed"), ("nolevel", "NoAuthnContext")]:
        xml, path = login(base, key, m)
        root = ET.fromstring(xml)
        sc = root.find("samlp:Status/samlp:StatusCode", NS)
        check(verify(path, IDP_CRT), f"{m}: signed")
        check(sc.get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Responder"
              and sc.find("samlp:StatusCode", NS).get("Value") == "urn:oasis:names:tc:SAML:2.0:status:" + inner,
              f"{m}: status codes")
        check(root.find("saml:EncryptedAssertion", NS) is None and root.find("saml:Assertion", NS) is None,
              f"{m}: no assertion")
        msg = root.find("samlp:Status/samlp:StatusMessage", NS)
        check((msg is not None and msg.text == "Abbruch durch den Benutzer") == (m == "cancel"), f"{m}: message")

    xml, path = login(base, key, "foreignkey")
    foreign = os.path.join(idp_dir, "foreign.crt")
    check(not verify(path, IDP_CRT) and verify(path, foreign), "foreignkey: signed, but not by the metadata key")
    a = decrypted(path)
    check_assertion(a, "_req1")
    check(a.find("ds:Signature", NS) is not None, "foreignkey: assertion signed (by the foreign key)")

    xml, path = login(base, key, "plain")
    root = ET.fromstring(xml)
    a = root.find("saml:Assertion", NS)
    check(root.find("saml:EncryptedAssertion", NS) is None and a is not None, "plain: unencrypted assertion")
    check(verify(path, IDP_CRT, strict=True), "plain: Response signature verifies")
    check(verify(path, IDP_CRT, ASSERTION, node_id=a.get("ID"), strict=True), "plain: Assertion signature verifies")
    check(root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS).get("URI") == "#" + root.get("ID")
          and a.find("ds:Signature/ds:SignedInfo/ds:Reference", NS).get("URI") == "#" + a.get("ID"), "plain: refs")
    check_assertion(a, "_req1")

    # --- key rollover: two signing + two encryption certs; encrypt to the first encryption cert
    status, _ = http("POST", base + "/setup/sp", sp_metadata([sp2, sp], [sp2, sp], sp2).encode(), "application/xml")
    check(status == 204, "/setup/sp again (rollover metadata)")
    status, page = http("GET", redirect + "?" + redirect_query(authn_request("_req3", redirect), sp))
    check(status == 200, "request signed with the second signing cert accepted")
    xml, path = login(base, Forms(page).forms[0]["fields"]["key"])
    check_response(xml, path, "_req3", sp2)
    check(xmlsec("--decrypt", "--privkey-pem", sp["key"], path)[0] != 0, "not decryptable with the second enc key")
    status, page = http("GET", redirect + "?" + redirect_query(authn_request("_req4", redirect), sp2))
    check(status == 200, "request signed with the first signing cert accepted")
    status, _ = http("POST", base + "/setup/sp", sp_metadata([sp2], [sp2], sp2).encode(), "application/xml")
    status, _ = http("GET", redirect + "?" + redirect_query(authn_request("_req5", redirect), sp))
    check(status == 400, "after replacing the metadata the old signing cert is refused")


if __name__ == "__main__":
    main()
