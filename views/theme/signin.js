/*
 * fedgate's only page script besides the WebAuthn one: small comforts, never needed to sign in (every form works
 * without it; issue 17). Served from our own origin under the pages' strict CSP (script-src 'self').
 * - Caps Lock hint: while a password field has focus and Caps Lock is on, the hint next to it is shown (it is a
 *   role="status" region, so screen readers announce it once).
 */
(function () {
  'use strict';

  var hint = document.getElementById('capsLockHint');
  if (!hint) return;
  var fields = document.querySelectorAll('input[type="password"]');

  function update(event) {
    if (!event.getModifierState) return;
    hint.hidden = !event.getModifierState('CapsLock');
  }

  for (var i = 0; i < fields.length; i++) {
    fields[i].addEventListener('keydown', update);
    fields[i].addEventListener('keyup', update);
    fields[i].addEventListener('blur', function () {
      hint.hidden = true;
    });
  }
})();
