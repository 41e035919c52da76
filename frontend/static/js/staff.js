// staff.js — what scripts add to the staff workspace; every form works without it.
//
// 1. Forms marked data-once: a second submit while the first is on its way is ignored, and
//    the buttons say so (the server records a form once anyway: its form_key is the write's
//    idempotency key).
// 2. The delivery form (data-evidence-form): each evidence file chosen or dragged in is hashed
//    here (crypto.subtle SHA-256) before anything is uploaded; its fingerprint is shown, and a
//    file larger than data-max-bytes or already cited on the ledger (GET data-check-url +
//    sha256, this server's index; the server checks again) is flagged at the field and the
//    form is not sent until it is removed.
// 3. The source document picker ([data-hash-picker]): the chosen file's SHA-256 is written into
//    the fingerprint field; the file itself is never uploaded.
// 4. A write's page ([data-write-live]): its state is polled every 2 s until it is final, then
//    the page is reloaded to show the result.
// 5. A refused form: its error summary (#form-errors) takes the focus; so do the credentials
//    shown once (#credentials). A blocked delivery form gives the focus to the flagged field.
// Texts come from the page (data-* attributes of #fingerprint-texts) and are inserted with
// textContent only.
(function () {
  'use strict';

  function hex(buffer) {
    return '0x' + Array.from(new Uint8Array(buffer)).map(function (b) { return b.toString(16).padStart(2, '0'); }).join('');
  }

  function sha256(file) {
    return file.arrayBuffer().then(function (bytes) { return crypto.subtle.digest('SHA-256', bytes); }).then(hex);
  }

  document.querySelectorAll('form[data-once]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (form.dataset.blocked === 'true') {
        event.preventDefault();
        var flagged = form.querySelector('[aria-invalid="true"]');
        if (flagged) flagged.focus();
        return;
      }
      if (form.dataset.sent === 'true') { event.preventDefault(); return; }
      form.dataset.sent = 'true';
      form.querySelectorAll('button[type=submit]').forEach(function (b) { b.setAttribute('aria-disabled', 'true'); });
    });
  });

  // A refused form's summary (or the credentials shown once) takes the focus, so it is read
  // first; its links lead to the fields.
  var first = document.getElementById('form-errors') || document.getElementById('credentials');
  if (first) first.focus();

  var hashing = !!(window.crypto && crypto.subtle);

  document.querySelectorAll('[data-hash-picker]').forEach(function (box) {
    if (!hashing) return;
    var input = box.querySelector('input[type=file]');
    var target = document.querySelector('[data-hash-target]');
    if (!input || !target) return;
    box.hidden = false;
    input.addEventListener('change', function () {
      if (!input.files.length) return;
      sha256(input.files[0]).then(function (h) { target.value = h; });
    });
  });

  document.querySelectorAll('form[data-evidence-form]').forEach(function (form) {
    if (!hashing) return;
    var input = form.querySelector('input[type=file][name=evidence]');
    var list = form.querySelector('[data-fingerprints]');
    var drop = form.querySelector('[data-drop]');
    var texts = document.getElementById('fingerprint-texts').dataset;
    var maxBytes = Number(form.dataset.maxBytes);
    var checkUrl = form.dataset.checkUrl;

    function show() {
      list.textContent = '';
      var files = Array.from(input.files);
      var pending = files.map(function (file) {
        var item = document.createElement('li');
        var name = document.createElement('span');
        name.textContent = file.name + ' — ';
        var state = document.createElement('span');
        state.textContent = texts.hashing;
        item.appendChild(name);
        item.appendChild(state);
        list.appendChild(item);
        if (file.size > maxBytes) {
          state.textContent = texts.tooLarge;
          state.className = 'bad';
          return Promise.resolve(false);
        }
        return sha256(file).then(function (h) {
          var code = document.createElement('code');
          code.className = 'hash';
          code.textContent = h;
          item.insertBefore(code, state);
          item.insertBefore(document.createTextNode(' '), state);
          return fetch(checkUrl + h, { headers: { Accept: 'application/json' } })
            .then(function (r) { return r.ok ? r.json() : null; })
            .then(function (found) {
              var cited = found && (found.citations || []).some(function (c) { return !c.revoked; }) ||
                found && (found.source_of || []).length > 0;
              state.textContent = cited ? texts.cited : texts.new;
              state.className = cited ? 'bad' : '';
              return !cited;
            }, function () { state.textContent = ''; return true; });
        });
      });
      Promise.all(pending).then(function (ok) {
        var blocked = ok.some(function (v) { return !v; });
        form.dataset.blocked = blocked ? 'true' : 'false';
        input.setAttribute('aria-invalid', blocked ? 'true' : 'false');
      });
    }

    input.addEventListener('change', show);
    if (drop && window.DataTransfer) {
      drop.hidden = false;
      ['dragenter', 'dragover'].forEach(function (type) {
        drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add('over'); });
      });
      ['dragleave', 'drop'].forEach(function (type) {
        drop.addEventListener(type, function () { drop.classList.remove('over'); });
      });
      drop.addEventListener('drop', function (e) {
        e.preventDefault();
        var all = new DataTransfer();
        Array.from(input.files).concat(Array.from(e.dataTransfer.files)).forEach(function (f) { all.items.add(f); });
        input.files = all.files;
        show();
      });
    }
  });

  document.querySelectorAll('[data-write-live]').forEach(function (box) {
    if (box.dataset.final === 'true' || !window.fetch) return;
    var badge = box.querySelector('[data-testid=write-state]');
    var count = box.querySelector('[data-confirmations]');
    function poll() {
      fetch(box.dataset.writeLive, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (w) {
          if (!w) { setTimeout(poll, 5000); return; }
          if (w.state !== badge.dataset.state) {
            badge.dataset.state = w.state;
            badge.className = 'badge write-' + w.state;
            badge.textContent = w.state_text;
          }
          if (w.final) { window.location.reload(); return; }
          if (w.confirmations_required && (w.state === 'mined')) {
            count.textContent = w.confirmations + ' / ' + w.confirmations_required;
          }
          setTimeout(poll, 2000);
        }, function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 1000);
  });
})();
