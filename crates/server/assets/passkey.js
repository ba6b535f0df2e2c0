// Valet's passkey ceremonies (WebAuthn). Every page works without this script; only
// passkeys need it, because only the browser's WebAuthn API can use one.
//
// A form with `data-passkey="create"` (account page) or `"get"` (login page, second
// factor) carries the server's options in `data-options`; on submit this script runs the
// ceremony, puts the browser's answer (JSON) in the form's `credential` field and
// submits the form for real. Elements marked `data-passkey-only` are shown only where
// the browser has WebAuthn. A login form with `data-passkey-autofill` also offers the
// passkeys in the username field's autofill (conditional mediation) where the browser
// supports it.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function fromB64url(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const raw = atob(b64 + '==='.slice((b64.length + 3) % 4));
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = '';
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function creationOptions(json) {
    const o = JSON.parse(json).publicKey;
    o.challenge = fromB64url(o.challenge);
    o.user.id = fromB64url(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }

  function requestOptions(json) {
    const o = JSON.parse(json).publicKey;
    o.challenge = fromB64url(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }

  function registrationJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined,
      },
      extensions: {},
    };
  }

  function assertionJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null,
      },
      extensions: {},
    };
  }

  function say(form, text) {
    const out = form.querySelector('[data-passkey-error]');
    if (!out) return;
    out.textContent = text;
    out.hidden = !text;
  }

  function why(err) {
    if (err && err.name === 'NotAllowedError') return 'The passkey was not used. Try again when you are ready.';
    if (err && err.name === 'InvalidStateError') return 'This passkey is registered already.';
    return 'Your browser could not use a passkey here.';
  }

  document.querySelectorAll('[data-passkey-only]').forEach(function (el) { el.hidden = false; });

  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    const kind = form.getAttribute('data-passkey');
    const options = form.getAttribute('data-options');
    let pending = null; // the autofill request, aborted when the button is used

    function send(json) {
      form.elements.credential.value = JSON.stringify(json);
      form.submit();
    }

    form.addEventListener('submit', function (event) {
      if (form.elements.credential.value) return; // the ceremony's answer is in: post it
      event.preventDefault();
      say(form, '');
      if (pending) pending.abort();
      const ceremony = kind === 'create'
        ? navigator.credentials.create({ publicKey: creationOptions(options) }).then(registrationJSON)
        : navigator.credentials.get({ publicKey: requestOptions(options) }).then(assertionJSON);
      ceremony.then(send, function (err) { say(form, why(err)); });
    });

    if (kind === 'get' && form.hasAttribute('data-passkey-autofill') &&
        PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
        if (!yes) return;
        pending = new AbortController();
        navigator.credentials.get({
          publicKey: requestOptions(options),
          mediation: 'conditional',
          signal: pending.signal,
        }).then(function (cred) { send(assertionJSON(cred)); }, function () { /* aborted or dismissed */ });
      });
    }
  });
})();
