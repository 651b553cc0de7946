#!/usr/bin/env python3
"""A fake "BundID" SAML 2.0 identity provider for the integration tests (pysaml2 + xmlsec1).

Start:  python3 tests/saml/idp.py --dir DIR [--enc gcm|cbc]
  Binds 127.0.0.1 on a free port, writes into DIR: idp.key/idp.crt (RSA 2048, self-signed, the
  signing key in the metadata), foreign.key/foreign.crt (a second, unpublished key for
  mischief=foreignkey) and idp-metadata.xml (entityID http://127.0.0.1:PORT/idp, SSO at
  /sso/redirect and /sso/post), then prints exactly one line "READY http://127.0.0.1:PORT" to
  stdout. Logs go to stderr. Serves until killed.

HTTP:
  GET  /metadata       the IdP metadata XML
  POST /setup/sp       raw body = SP metadata XML -> 204 (replaces any earlier SP; its signature
                       is not checked). Encrypts to the FIRST encryption (or use-less) certificate.
  GET  /sso/redirect   HTTP-Redirect AuthnRequest; the query signature (SigAlg RSA-SHA256/384/512)
                       is verified over the raw, as-received query parameters.
  POST /sso/post       HTTP-POST AuthnRequest with an enveloped XML signature.
                       Both need a valid signature by an SP signing cert, Issuer = the SP entityID,
                       Destination (if present) = the endpoint used, and an ACS URL/index (if
                       given) that is in the SP metadata; else 400 text/plain with the reason.
                       200 -> HTML login page, <form method="post" action="/login"> with hidden `key`.
  GET  /last-request   JSON of the last accepted AuthnRequest: id, issuer, destination, acs_url,
                       signed, binding ("redirect"|"post"), comparison, authn_context_class_refs,
                       requested_attributes [{name, required}] (akdb extension), xml,
                       plus key, relay_state, sig_alg. 404 before the first one.
  POST /login          form: key, subject (persistent NameID), level 1..4 (default 4),
                       vocab stork|eidas (default stork), attributes (JSON {Name: "value" | [values]}),
                       mischief (none|unsigned|expired|audience|destination|recipient|cancel|
                       nolevel|foreignkey|plain), enc (aes128-gcm|aes128-cbc, default from --enc).
                       -> 200 HTML <form method="post" action=ACS> with hidden SAMLResponse (base64)
                       and RelayState (if the request had one). Keys stay valid (can be reused).
                       Unknown key, bad level/vocab/mischief/attributes -> 400.
Responses: signed Response (enveloped, RSA-SHA256, SHA-256, exc-c14n, Reference "#<Response ID>")
holding one EncryptedAssertion (rsa-oaep-mgf1p + aes128-gcm by default); the assertion inside is
signed as well (before encryption) and carries its own namespace declarations.
Mischief: unsigned (no signature anywhere), expired (NotOnOrAfter -1 h, IssueInstants -65 min),
audience/destination/recipient (https://other-sp.example/, .../acs), cancel (Responder/AuthnFailed
+ "Abbruch durch den Benutzer"), nolevel (Responder/NoAuthnContext), foreignkey (signed with
foreign.key), plain (signed Assertion, not encrypted, inside a signed Response).
"""

import argparse
import base64
import html
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import zlib
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, class_name, md, saml, samlp
from saml2 import xmldsig as ds
from saml2 import xmlenc
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData
from saml2.s_utils import sid
from saml2.sigver import (RSA_OAEP_MGF1P, SIGNER_ALGS, CryptoBackendXmlSec1, SecurityContext,
                          extract_rsa_key_from_x509_cert, get_xmlsec_binary, make_temp,
                          pem_format, pre_encryption_part, pre_signature_part)

log = logging.getLogger("fake-bundid")

AKDB_NS = "https://www.akdb.de/request/2018/09"
AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
ENC_ALGS = {"aes128-gcm": AES128_GCM, "gcm": AES128_GCM, "aes128-cbc": AES128_CBC, "cbc": AES128_CBC}
REDIRECT_SIG_ALGS = {ds.SIG_RSA_SHA256, ds.SIG_RSA_SHA384, ds.SIG_RSA_SHA512}
NSPAIR = {"samlp": samlp.NAMESPACE, "saml": saml.NAMESPACE, "ds": ds.NAMESPACE,
          "xenc": xmlenc.NAMESPACE, "md": md.NAMESPACE}
MISCHIEF = {"none", "unsigned", "expired", "audience", "destination", "recipient", "cancel",
            "nolevel", "foreignkey", "plain"}
OTHER_SP = "https://other-sp.example/"
OTHER_ACS = "https://other-sp.example/acs"
EIDAS = {1: "low", 2: "low", 3: "substantial", 4: "high"}
# xmlsec1 --node-xpath for the assertion inside our stand-alone <EncryptedAssertion> wrapper
WRAPPED_ASSERTION = "/*[local-name()='EncryptedAssertion']/*[local-name()='Assertion']"


class BadRequest(Exception):
    """Answered with 400 and the message as text/plain."""


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def strip_decl(xml):
    return re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", xml)


def xml_str(obj):
    return obj.to_string(nspair=NSPAIR).decode("utf-8")


def make_keypair(directory, name):
    """RSA 2048 key + self-signed certificate via the openssl CLI; returns (key, crt, base64 DER)."""
    key, crt = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-days", "3650", "-subj", f"/CN=fake-bundid-{name}", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    with open(crt) as f:
        b64 = "".join(line.strip() for line in f if line.strip() and "-----" not in line)
    return key, crt, b64


class IdP:
    def __init__(self, base_url, directory, default_enc):
        self.base = base_url
        self.entity_id = f"{base_url}/idp"
        self.sso = {"redirect": f"{base_url}/sso/redirect", "post": f"{base_url}/sso/post"}
        self.default_enc = default_enc
        self.key, self.crt, self.cert = make_keypair(directory, "idp")
        self.fkey, self.fcrt, self.fcert = make_keypair(directory, "foreign")
        self.sec = SecurityContext(CryptoBackendXmlSec1(get_xmlsec_binary()), key_file=self.key,
                                   cert_file=self.crt, only_use_keys_in_metadata=True)
        self.lock = threading.Lock()
        self.sp = None          # see setup_sp
        self.pending = {}       # key -> accepted request info
        self.last = None
        self.metadata = self._metadata()
        with open(os.path.join(directory, "idp-metadata.xml"), "w") as f:
            f.write(self.metadata)

    # ---------------------------------------------------------------- metadata
    def _metadata(self):
        key_info = ds.KeyInfo(x509_data=[ds.X509Data(x509_certificate=ds.X509Certificate(text=self.cert))])
        idpsso = md.IDPSSODescriptor(
            protocol_support_enumeration=samlp.NAMESPACE, want_authn_requests_signed="true",
            key_descriptor=[md.KeyDescriptor(use="signing", key_info=key_info)],
            name_id_format=[md.NameIDFormat(text=saml.NAMEID_FORMAT_PERSISTENT)],
            single_sign_on_service=[
                md.SingleSignOnService(binding=BINDING_HTTP_REDIRECT, location=self.sso["redirect"]),
                md.SingleSignOnService(binding=BINDING_HTTP_POST, location=self.sso["post"])])
        ed = md.EntityDescriptor(entity_id=self.entity_id, idpsso_descriptor=[idpsso])
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml_str(ed)

    def setup_sp(self, body):
        try:
            mdo = InMemoryMetaData(ac_factory(), body.decode("utf-8"))
            mdo.load()
        except Exception as e:
            raise BadRequest(f"cannot parse SP metadata: {e!r}")
        sps = [eid for eid, ent in mdo.items() if ent.get("spsso_descriptor")]
        if len(sps) != 1:
            raise BadRequest(f"expected exactly one SPSSODescriptor entity, found {len(sps)}")
        eid = sps[0]
        acs = [{"url": s["location"], "index": s.get("index"),
                "default": str(s.get("is_default", "")).lower() in ("true", "1")}
               for s in mdo.service(eid, "spsso_descriptor", "assertion_consumer_service", BINDING_HTTP_POST) or []]
        signing = [c for _, c in mdo.certs(eid, "spsso", "signing")]
        encryption = [c for _, c in mdo.certs(eid, "spsso", "encryption")]
        if not acs or not signing or not encryption:
            raise BadRequest("SP metadata needs an HTTP-POST AssertionConsumerService, "
                             "a signing and an encryption certificate")
        with self.lock:
            self.sec.metadata = mdo
            self.sp = {"entity_id": eid, "acs": acs, "signing": signing, "encryption": encryption}
        log.info("SP %s: ACS %s, %d signing / %d encryption certs",
                 eid, [a["url"] for a in acs], len(signing), len(encryption))

    # ---------------------------------------------------------------- AuthnRequest
    def _verify_redirect(self, raw_query, sp):
        """Check the HTTP-Redirect signature over the parameters exactly as they were received."""
        raw = {}
        for part in raw_query.split("&"):
            k, _, v = part.partition("=")
            if k in raw:
                raise BadRequest(f"duplicate query parameter {k}")
            raw[k] = v
        if "SAMLRequest" not in raw:
            raise BadRequest("no SAMLRequest parameter")
        if "Signature" not in raw or "SigAlg" not in raw:
            raise BadRequest("unsigned AuthnRequest: HTTP-Redirect needs SigAlg and Signature")
        sig_alg = unquote_plus(raw["SigAlg"])
        if sig_alg not in REDIRECT_SIG_ALGS:
            raise BadRequest(f"unsupported SigAlg {sig_alg}")
        signed = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg") if k in raw)
        try:
            signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
        except ValueError:
            raise BadRequest("Signature is not base64")
        for cert in sp["signing"]:
            key = extract_rsa_key_from_x509_cert(pem_format(cert))
            if SIGNER_ALGS[sig_alg].verify(signed.encode("ascii"), signature, key):
                return sig_alg, {k: unquote_plus(v) for k, v in raw.items()}
        raise BadRequest("AuthnRequest signature (HTTP-Redirect) does not verify with the SP signing certificate(s)")

    def accept_request(self, binding, raw_query=None, form=None):
        with self.lock:
            sp = self.sp
        if sp is None:
            raise BadRequest("no SP configured (POST /setup/sp first)")
        if binding == "redirect":
            sig_alg, params = self._verify_redirect(raw_query, sp)
            try:
                xml = zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15).decode("utf-8")
            except Exception as e:
                raise BadRequest(f"SAMLRequest is not base64(deflate(xml)): {e!r}")
            relay_state = params.get("RelayState")
        else:
            if "SAMLRequest" not in form:
                raise BadRequest("no SAMLRequest form field")
            try:
                xml = base64.b64decode(form["SAMLRequest"]).decode("utf-8")
            except Exception as e:
                raise BadRequest(f"SAMLRequest is not base64(xml): {e!r}")
            relay_state = form.get("RelayState")
            sig_alg = None
        try:
            req = samlp.authn_request_from_string(xml)
        except Exception as e:
            raise BadRequest(f"cannot parse AuthnRequest: {e!r}")
        if req is None:
            raise BadRequest("not a samlp:AuthnRequest")
        issuer = req.issuer.text.strip() if req.issuer is not None and req.issuer.text else None
        if issuer != sp["entity_id"]:
            raise BadRequest(f"Issuer {issuer!r} is not the configured SP {sp['entity_id']!r}")
        if binding == "post":
            if req.signature is None:
                raise BadRequest("unsigned AuthnRequest: HTTP-POST needs an enveloped ds:Signature")
            try:  # pysaml2: structural checks + xmlsec1 --verify with the certs from the SP metadata
                self.sec.correctly_signed_authn_request(xml, must=True)
            except Exception as e:
                raise BadRequest(f"AuthnRequest signature (HTTP-POST) invalid: {e!r}")
            sig_alg = req.signature.signed_info.signature_method.algorithm
        if req.destination and req.destination != self.sso[binding]:
            raise BadRequest(f"Destination {req.destination!r} is not {self.sso[binding]!r}")
        acs_url = self._acs_url(req, sp)
        rac = req.requested_authn_context
        root = ET.fromstring(xml)
        requested = [{"name": ra.get("Name"),
                      "required": (ra.get("RequiredAttribute") or "").strip().lower() in ("true", "1")}
                     for ext in root.findall(f"{{{samlp.NAMESPACE}}}Extensions")
                     for ra in ext.iter(f"{{{AKDB_NS}}}RequestedAttribute")]
        key = secrets.token_urlsafe(16)
        info = {"key": key, "id": req.id, "issuer": issuer, "destination": req.destination,
                "acs_url": acs_url, "signed": True, "binding": binding,
                "comparison": rac.comparison if rac is not None else None,
                "authn_context_class_refs": [r.text.strip() for r in (rac.authn_context_class_ref if rac else [])],
                "requested_attributes": requested, "relay_state": relay_state, "sig_alg": sig_alg,
                "xml": xml}
        with self.lock:
            self.pending[key] = {"request": info, "sp": sp}
            self.last = info
        log.info("accepted AuthnRequest %s (%s) -> key %s", req.id, binding, key)
        return info

    @staticmethod
    def _acs_url(req, sp):
        if req.assertion_consumer_service_url:
            if req.assertion_consumer_service_url not in [a["url"] for a in sp["acs"]]:
                raise BadRequest(f"AssertionConsumerServiceURL {req.assertion_consumer_service_url!r} "
                                 "is not an HTTP-POST ACS in the SP metadata")
            return req.assertion_consumer_service_url
        if req.assertion_consumer_service_index is not None:
            for a in sp["acs"]:
                if str(a["index"]) == str(req.assertion_consumer_service_index):
                    return a["url"]
            raise BadRequest(f"no ACS with index {req.assertion_consumer_service_index}")
        return next((a["url"] for a in sp["acs"] if a["default"]), sp["acs"][0]["url"])

    # ---------------------------------------------------------------- Response
    def _sign(self, xml, node, node_id, key_file):
        return self.sec.sign_statement(xml, class_name(node), key_file=key_file, node_id=node_id)

    def _encrypt(self, assertion_xml, cert_b64, alg):
        """Encrypt a stand-alone (self-contained namespaces) assertion to the SP certificate."""
        wrapper = (f'<saml:EncryptedAssertion xmlns:saml="{saml.NAMESPACE}">'
                   f"{strip_decl(assertion_xml)}</saml:EncryptedAssertion>")
        template = pre_encryption_part(msg_enc=alg, key_enc=RSA_OAEP_MGF1P, encrypt_cert=cert_b64)
        cert_file = make_temp(pem_format(cert_b64), suffix=".pem", decode=False)
        out = self.sec.crypto.encrypt_assertion(wrapper, cert_file.name, template,
                                                key_type="aes-128", node_xpath=WRAPPED_ASSERTION)
        ea = saml.encrypted_assertion_from_string(out)
        if ea is None or ea.encrypted_data is None:
            raise RuntimeError("xmlsec1 --encrypt produced no EncryptedData")
        return ea

    def login(self, form):
        with self.lock:
            pending = self.pending.get(form.get("key", ""))
        if pending is None:
            raise BadRequest("unknown key")
        subject = form.get("subject", "").strip()
        if not subject:
            raise BadRequest("subject is required")
        try:
            level = int(form.get("level") or 4)
            assert 1 <= level <= 4
        except (ValueError, AssertionError):
            raise BadRequest("level must be 1..4")
        vocab = form.get("vocab") or "stork"
        if vocab not in ("stork", "eidas"):
            raise BadRequest("vocab must be stork or eidas")
        mischief = form.get("mischief") or "none"
        if mischief not in MISCHIEF:
            raise BadRequest(f"mischief must be one of {sorted(MISCHIEF)}")
        enc = ENC_ALGS.get(form.get("enc") or self.default_enc)
        if enc is None:
            raise BadRequest("enc must be aes128-gcm or aes128-cbc")
        try:
            attributes = json.loads(form.get("attributes") or "{}")
            assert isinstance(attributes, dict)
            attributes = {str(k): v if isinstance(v, list) else [v] for k, v in attributes.items()}
            assert all(isinstance(x, str) for v in attributes.values() for x in v)
        except (ValueError, AssertionError):
            raise BadRequest("attributes must be a JSON object of string (or list of string) values")
        class_ref = f"STORK-QAA-Level-{level}" if vocab == "stork" else f"http://eidas.europa.eu/LoA/{EIDAS[level]}"
        xml = self.response(pending, subject, class_ref, attributes, mischief, enc)
        req = pending["request"]
        log.info("login %s for request %s: mischief=%s level=%d %s", subject, req["id"], mischief, level, vocab)
        return req["acs_url"], base64.b64encode(xml.encode("utf-8")).decode("ascii"), req["relay_state"]

    def response(self, pending, subject, class_ref, attributes, mischief, enc):
        req, sp = pending["request"], pending["sp"]
        now = datetime.now(timezone.utc)
        issued = now - timedelta(minutes=65) if mischief == "expired" else now
        not_after = now - timedelta(hours=1) if mischief == "expired" else now + timedelta(minutes=5)
        key, cert = (self.fkey, self.fcert) if mischief == "foreignkey" else (self.key, self.cert)
        sign = mischief != "unsigned"

        def sig_template(ident):
            return pre_signature_part(ident, cert, sign_alg=ds.SIG_RSA_SHA256, digest_alg=ds.DIGEST_SHA256)

        resp = samlp.Response(
            id=sid(), version="2.0", issue_instant=iso(issued), in_response_to=req["id"],
            destination=OTHER_ACS if mischief == "destination" else req["acs_url"],
            issuer=saml.Issuer(text=self.entity_id, format=saml.NAMEID_FORMAT_ENTITY))
        if sign:
            resp.signature = sig_template(resp.id)
        if mischief in ("cancel", "nolevel"):
            inner = samlp.STATUS_AUTHN_FAILED if mischief == "cancel" else samlp.STATUS_NO_AUTHN_CONTEXT
            resp.status = samlp.Status(
                status_code=samlp.StatusCode(value=samlp.STATUS_RESPONDER,
                                             status_code=samlp.StatusCode(value=inner)),
                status_message=samlp.StatusMessage(text="Abbruch durch den Benutzer")
                if mischief == "cancel" else None)
            return self._sign(xml_str(resp), resp, resp.id, key)
        resp.status = samlp.Status(status_code=samlp.StatusCode(value=samlp.STATUS_SUCCESS))

        assertion = saml.Assertion(
            id=sid(), version="2.0", issue_instant=iso(issued),
            issuer=saml.Issuer(text=self.entity_id, format=saml.NAMEID_FORMAT_ENTITY),
            subject=saml.Subject(
                name_id=saml.NameID(format=saml.NAMEID_FORMAT_PERSISTENT, text=subject),
                subject_confirmation=[saml.SubjectConfirmation(
                    method=saml.SCM_BEARER,
                    subject_confirmation_data=saml.SubjectConfirmationData(
                        recipient=OTHER_ACS if mischief == "recipient" else req["acs_url"],
                        in_response_to=req["id"], not_on_or_after=iso(not_after)))]),
            conditions=saml.Conditions(
                not_before=iso(issued - timedelta(minutes=1)), not_on_or_after=iso(not_after),
                audience_restriction=[saml.AudienceRestriction(audience=[saml.Audience(
                    text=OTHER_SP if mischief == "audience" else sp["entity_id"])])]),
            authn_statement=[saml.AuthnStatement(
                authn_instant=iso(issued), session_index=sid(),
                authn_context=saml.AuthnContext(
                    authn_context_class_ref=saml.AuthnContextClassRef(text=class_ref)))])
        if attributes:  # an empty AttributeStatement would be schema-invalid
            assertion.attribute_statement = [saml.AttributeStatement(attribute=[
                saml.Attribute(name=name, name_format=saml.NAME_FORMAT_URI,
                               attribute_value=[saml.AttributeValue(text=v) for v in values])
                for name, values in attributes.items()])]
        if sign:
            assertion.signature = sig_template(assertion.id)

        if mischief == "plain":  # both signatures computed on the final document, inner one first
            resp.assertion = [assertion]
            xml = self._sign(xml_str(resp), assertion, assertion.id, key)
            return self._sign(xml, resp, resp.id, key)

        assertion_xml = xml_str(assertion)
        if sign:
            assertion_xml = self._sign(assertion_xml, assertion, assertion.id, key)
        resp.encrypted_assertion = [self._encrypt(assertion_xml, sp["encryption"][0], enc)]
        xml = xml_str(resp)
        return self._sign(xml, resp, resp.id, key) if sign else '<?xml version="1.0"?>\n' + xml


# -------------------------------------------------------------------- HTTP
LOGIN_PAGE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>BundID (Test-IdP)</title></head>
<body><h1>BundID (Test-IdP)</h1>
<p>Anfrage {req_id} von {issuer}</p>
<form method="post" action="/login">
<input type="hidden" name="key" value="{key}">
<label>Subject <input type="text" name="subject" value=""></label>
<label>Level <select name="level"><option>4</option><option>3</option><option>2</option><option>1</option></select></label>
<label>Vocab <select name="vocab"><option>stork</option><option>eidas</option></select></label>
<label>Attributes (JSON) <textarea name="attributes">{{}}</textarea></label>
<button type="submit">Anmelden</button>
</form></body></html>
"""

POST_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>BundID (Test-IdP)</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{acs}">
<input type="hidden" name="SAMLResponse" value="{response}">
{relay}<noscript><button type="submit">Weiter</button></noscript>
</form></body></html>
"""


class Handler(BaseHTTPRequestHandler):
    idp = None  # set in main()
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)

    def _send(self, status, body=b"", ctype="text/plain; charset=utf-8"):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def _body(self):
        if self._raw is None:  # always consumed before answering (keep-alive)
            self._raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._raw

    def _form(self):
        return {k: v[0] for k, v in parse_qs(self._body().decode("utf-8"), keep_blank_values=True).items()}

    def _dispatch(self, method):
        self._raw = None
        if method == "POST":
            self._body()
        path, _, query = self.path.partition("?")
        idp = self.idp
        try:
            if method == "GET" and path == "/metadata":
                return self._send(200, idp.metadata, "application/samlmetadata+xml")
            if method == "GET" and path == "/last-request":
                if idp.last is None:
                    return self._send(404, "no AuthnRequest accepted yet")
                return self._send(200, json.dumps(idp.last, indent=1), "application/json")
            if method == "POST" and path == "/setup/sp":
                idp.setup_sp(self._body())
                return self._send(204)
            if (method, path) in (("GET", "/sso/redirect"), ("POST", "/sso/post")):
                if method == "GET":
                    info = idp.accept_request("redirect", raw_query=query)
                else:
                    info = idp.accept_request("post", form=self._form())
                page = LOGIN_PAGE.format(req_id=html.escape(info["id"]), issuer=html.escape(info["issuer"]),
                                         key=html.escape(info["key"]))
                return self._send(200, page, "text/html; charset=utf-8")
            if method == "POST" and path == "/login":
                acs, response, relay = idp.login(self._form())
                relay = ("" if relay is None else
                         f'<input type="hidden" name="RelayState" value="{html.escape(relay)}">\n')
                page = POST_PAGE.format(acs=html.escape(acs), response=response, relay=relay)
                return self._send(200, page, "text/html; charset=utf-8")
            return self._send(404, f"no such endpoint: {method} {path}")
        except BadRequest as e:
            log.warning("400 %s %s: %s", method, path, e)
            return self._send(400, str(e))
        except Exception as e:
            log.exception("500 %s %s", method, path)
            return self._send(500, f"internal error: {e!r}")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


def main():
    parser = argparse.ArgumentParser(description="Fake BundID SAML IdP for integration tests")
    parser.add_argument("--dir", required=True, help="directory for keys and idp-metadata.xml")
    parser.add_argument("--enc", default="aes128-gcm", choices=sorted(ENC_ALGS),
                        help="default data encryption algorithm for assertions")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s idp %(levelname)s %(name)s: %(message)s")
    os.makedirs(args.dir, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    Handler.idp = IdP(base, args.dir, args.enc)
    sys.stdout.write(f"READY {base}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
