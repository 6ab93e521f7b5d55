/*
 * fedgate: the browser half of a WebAuthn ceremony (security key or passkey as a second factor, issue 16).
 *
 * Hand-written on purpose, with no dependency: fedgate has no bundler, and its pages run under
 * `script-src 'self'`, so the script must be one self-hosted file with no inline code and no eval. What it does is
 * small: turn the server's options (JSON, base64url for binary fields) into the ArrayBuffers
 * navigator.credentials wants, and the credential back into the JSON shape the server verifies
 * (RegistrationResponseJSON / AuthenticationResponseJSON, WebAuthn L3 §5.1.8-§5.1.9 toJSON()).
 *
 * Page contract: <form id="webauthnForm" method="post" data-mode="create|get" data-options="{...}"> holding
 * <input type="hidden" name="WebAuthnResponse">, a button #webauthnButton and <p id="webauthnError" role="alert"
 * hidden>. The ceremony starts on the button (a user gesture, which some browsers require); on failure a plain
 * message is shown (textContent only) and the button works again, with the same server-side challenge.
 */
(function () {
  'use strict';

  var form = document.getElementById('webauthnForm');
  var button = document.getElementById('webauthnButton');
  var errorBox = document.getElementById('webauthnError');
  if (!form || !button) return;

  // The page carries its texts in the reader's language (data-msg-* attributes from the catalogue, issue 17);
  // the English ones below are only a fallback.
  var d = form.dataset;
  var MESSAGES = {
    unsupported:
      d.msgUnsupported ||
      'This browser cannot use security keys or passkeys. Try another browser, or another method.',
    NotAllowedError:
      d.msgNotAllowed ||
      'The security key or passkey was not used: the request was cancelled, timed out, or no matching key was found. Try again.',
    InvalidStateError:
      d.msgInvalidState || 'This security key or passkey is already registered to your account.',
    NotSupportedError:
      d.msgNotSupported || 'This security key or passkey does not support what this sign-in needs.',
    SecurityError: d.msgSecurity || 'Security keys and passkeys cannot be used at this address.',
    AbortError: d.msgAbort || 'The request was cancelled. Try again.',
    other: d.msgOther || 'The security key or passkey could not be used. Try again.',
  };

  function showError(text) {
    if (!errorBox) return;
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function clearError() {
    if (!errorBox) return;
    errorBox.textContent = '';
    errorBox.hidden = true;
  }

  function fromBase64url(s) {
    var b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type || 'public-key', id: fromBase64url(d.id) };
      if (d.transports) out.transports = d.transports;
      return out;
    });
  }

  /** PublicKeyCredentialCreationOptionsJSON -> PublicKeyCredentialCreationOptions (§5.4). */
  function creationOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = fromBase64url(o.challenge);
    pk.user = Object.assign({}, o.user, { id: fromBase64url(o.user.id) });
    pk.excludeCredentials = descriptors(o.excludeCredentials);
    return pk;
  }

  /** PublicKeyCredentialRequestOptionsJSON -> PublicKeyCredentialRequestOptions (§5.5). */
  function requestOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = fromBase64url(o.challenge);
    pk.allowCredentials = descriptors(o.allowCredentials);
    return pk;
  }

  function extensionResults(cred) {
    try {
      return cred.getClientExtensionResults() || {};
    } catch {
      return {};
    }
  }

  /** RegistrationResponseJSON (§5.2.1 / §5.1.8). */
  function registrationJSON(cred) {
    var r = cred.response;
    var transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        attestationObject: toBase64url(r.attestationObject),
        transports: transports,
      },
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: extensionResults(cred),
    };
  }

  /** AuthenticationResponseJSON (§5.2.2 / §5.1.8). */
  function authenticationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        authenticatorData: toBase64url(r.authenticatorData),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined,
      },
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: extensionResults(cred),
    };
  }

  var busy = false;

  function run() {
    if (busy) return;
    clearError();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(MESSAGES.unsupported);
      return;
    }
    var mode = form.getAttribute('data-mode');
    var options;
    try {
      options = JSON.parse(form.getAttribute('data-options') || '');
    } catch {
      showError(MESSAGES.other);
      return;
    }
    var pending;
    try {
      pending =
        mode === 'create'
          ? navigator.credentials.create({ publicKey: creationOptions(options) })
          : navigator.credentials.get({ publicKey: requestOptions(options) });
    } catch {
      showError(MESSAGES.other);
      return;
    }
    busy = true;
    button.disabled = true;
    pending
      .then(function (cred) {
        if (!cred) throw new DOMException('no credential', 'NotAllowedError');
        var json = mode === 'create' ? registrationJSON(cred) : authenticationJSON(cred);
        form.elements.namedItem('WebAuthnResponse').value = JSON.stringify(json);
        form.submit();
      })
      .catch(function (e) {
        busy = false;
        button.disabled = false;
        var name = e && typeof e.name === 'string' ? e.name : '';
        showError(
          Object.prototype.hasOwnProperty.call(MESSAGES, name) ? MESSAGES[name] : MESSAGES.other,
        );
      });
  }

  button.addEventListener('click', function (ev) {
    ev.preventDefault();
    run();
  });
})();
