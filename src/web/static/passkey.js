// Passkeys: hands the server's WebAuthn options to the browser and puts the answer into the
// form's hidden "credential" field. Forms without JavaScript show a note instead.
(function () {
  "use strict";
  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var b = atob(s), a = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) { a[i] = b.charCodeAt(i); }
    return a.buffer;
  }
  function toB64u(buf) {
    var a = new Uint8Array(buf), s = "";
    for (var i = 0; i < a.length; i++) { s += String.fromCharCode(a[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBuf(c.id); });
  }
  function answer(c, create) {
    var r = c.response, out = {
      id: c.id, rawId: toB64u(c.rawId), type: c.type,
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) }
    };
    if (create) {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      out.response.userHandle = r.userHandle ? toB64u(r.userHandle) : null;
    }
    return JSON.stringify(out);
  }
  var forms = document.querySelectorAll("form[data-passkey]");
  Array.prototype.forEach.call(forms, function (form) {
    var note = form.querySelector(".pk-note"), failed = form.querySelector(".pk-failed");
    if (!window.PublicKeyCredential || !navigator.credentials) { return; }
    if (note) { note.hidden = true; }
    form.querySelector("button[type=submit]").disabled = false;
    form.addEventListener("submit", function (ev) {
      if (form.elements.credential.value) { return; }
      ev.preventDefault();
      var create = form.getAttribute("data-passkey") === "create";
      var opts = JSON.parse(form.getAttribute("data-options")), pk = opts.publicKey;
      pk.challenge = toBuf(pk.challenge);
      var p;
      if (create) {
        pk.user.id = toBuf(pk.user.id);
        ids(pk.excludeCredentials);
        p = navigator.credentials.create({ publicKey: pk });
      } else {
        ids(pk.allowCredentials);
        p = navigator.credentials.get({ publicKey: pk });
      }
      p.then(function (c) {
        form.elements.credential.value = answer(c, create);
        form.submit();
      }, function () {
        if (failed) { failed.hidden = false; failed.focus(); }
      });
    });
  });
})();
