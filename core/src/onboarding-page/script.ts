/**
 * The onboarding page's browser script (served as /onboarding/app.js, no build step). Embedded Signup
 * v4, Coexistence variant: FB.login with the configuration id, `featureType:
 * whatsapp_business_app_onboarding` and session info version 3, which makes facebook.com post
 * `{ type: "WA_EMBEDDED_SIGNUP", event: "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", data: { waba_id,
 * phone_number_id } }` (or CANCEL / ERROR) to this window; FB.login's callback carries the code.
 */
export const ONBOARDING_SCRIPT = String.raw`(() => {
  'use strict';
  const settings = JSON.parse(document.body.dataset.settings || '{}');
  const $ = (id) => document.getElementById(id);
  const WORDS = {
    en: { waiting: 'Finish the steps in the Facebook window and on your phone…', sending: 'Connecting your number…', cancelled: 'Signup was cancelled', error: 'Signup failed', done: 'Your number is connected.', failed: 'Connecting failed', need_token: 'Enter the API token first.' },
    fr: { waiting: 'Terminez les étapes dans la fenêtre Facebook et sur votre téléphone…', sending: 'Connexion de votre numéro…', cancelled: 'Inscription annulée', error: 'L’inscription a échoué', done: 'Votre numéro est connecté.', failed: 'La connexion a échoué', need_token: 'Saisissez d’abord le jeton d’API.' },
    ar: { waiting: 'أكمل الخطوات في نافذة فيسبوك وعلى هاتفك…', sending: 'جارٍ ربط رقمك…', cancelled: 'أُلغي التسجيل', error: 'فشل التسجيل', done: 'تم ربط رقمك.', failed: 'فشل الربط', need_token: 'أدخل رمز API أولاً.' },
  };
  const w = WORDS[settings.lang] || WORDS.en;
  const status = (text, cls) => { const el = $('status'); el.textContent = text; el.className = cls || ''; };
  let code = null;
  let session = null;
  let submitted = false;
  // A CANCEL / ERROR message says more (the step, Meta's error) than the login callback without a code.
  let ended = false;

  const token = $('api-token');
  token.value = sessionStorage.getItem('coex-api-token') || '';
  token.addEventListener('change', () => sessionStorage.setItem('coex-api-token', token.value.trim()));

  window.fbAsyncInit = () => {
    FB.init({ appId: settings.appId, autoLogAppEvents: true, xfbml: false, version: settings.graphVersion });
  };

  // Session info from Embedded Signup: only from facebook.com, only its own message type.
  window.addEventListener('message', (event) => {
    if (!/^https:\/\/([a-z0-9-]+\.)?facebook\.com$/.test(event.origin)) return;
    let message;
    try { message = typeof event.data === 'string' ? JSON.parse(event.data) : event.data; } catch { return; }
    if (!message || message.type !== 'WA_EMBEDDED_SIGNUP') return;
    if (message.event === 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING' || message.event === 'FINISH') {
      session = { wabaId: message.data && message.data.waba_id, phoneNumberId: message.data && message.data.phone_number_id };
      submit();
    } else if (message.event === 'CANCEL') {
      ended = true;
      status(w.cancelled + (message.data && message.data.current_step ? ' (' + message.data.current_step + ')' : ''), 'warn');
    } else if (message.event === 'ERROR') {
      ended = true;
      status(w.error + ': ' + ((message.data && message.data.error_message) || ''), 'warn');
    }
  });

  $('start').addEventListener('click', () => {
    if (!token.value.trim()) return status(w.need_token, 'warn');
    sessionStorage.setItem('coex-api-token', token.value.trim());
    ended = false;
    status(w.waiting);
    FB.login((response) => {
      if (response && response.authResponse && response.authResponse.code) {
        code = response.authResponse.code;
        submit();
      } else if (!session && !ended) {
        status(w.cancelled, 'warn');
      }
    }, {
      config_id: settings.configId,
      response_type: 'code',
      override_default_response_type: true,
      extras: { setup: {}, featureType: 'whatsapp_business_app_onboarding', sessionInfoVersion: '3' },
    });
  });

  function api(path, init) {
    return fetch(path, Object.assign({}, init, { headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token.value.trim() } }));
  }

  function showSteps(steps) {
    const list = $('steps');
    list.textContent = '';
    for (const s of steps || []) {
      const li = document.createElement('li');
      li.className = s.status;
      li.dataset.step = s.step;
      li.textContent = s.step.replace(/_/g, ' ') + (s.detail ? ': ' + s.detail : '');
      list.appendChild(li);
    }
  }

  async function submit() {
    // Both halves are needed: the code (FB.login callback) and the ids (message event), in either order.
    if (submitted || !code || !session || !session.wabaId) return;
    submitted = true;
    status(w.sending);
    const body = { code: code, waba_id: session.wabaId };
    if (session.phoneNumberId) body.phone_number_id = session.phoneNumberId;
    const tenant = $('tenant-id').value.trim();
    if (tenant) body.tenant_id = tenant;
    let res, json;
    try {
      res = await api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify(body) });
      json = await res.json();
    } catch (e) {
      submitted = false;
      return status(w.failed + ': ' + e, 'warn');
    }
    showSteps(json.steps);
    if (!res.ok) return status(w.failed + ': ' + (json.error || res.status), 'warn');
    status(w.done, 'ok');
    poll(json.phoneNumberId);
  }

  async function poll(phoneNumberId) {
    for (;;) {
      try {
        const res = await api('/api/v1/numbers/' + encodeURIComponent(phoneNumberId) + '/sync', { method: 'GET' });
        if (res.ok) {
          const s = await res.json();
          $('sync-progress').value = s.history.progress || 0;
          $('sync-text').textContent = s.history.status + ' · ' + (s.history.progress || 0) + '% · ' + (s.history.messages || 0) + ' messages';
          $('sync').dataset.status = s.history.status;
          if (['complete', 'declined', 'failed'].includes(s.history.status)) return;
        }
      } catch { /* keep polling */ }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
})();
`;
