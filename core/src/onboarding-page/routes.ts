import express, { type Request, type Response, type Router } from 'express';
import type { Config } from '../config.js';
import { pickLang, type Lang } from '../console/i18n.js';
import { ONBOARDING_SCRIPT } from './script.js';

/**
 * The onboarding page: a button runs Meta's Embedded Signup (v4, Coexistence variant), the page
 * posts the finish event's ids and the code to POST /api/v1/onboarding with the API token typed on
 * the page (kept in sessionStorage only), then shows the steps' outcomes and the history sync
 * progress live (GET /api/v1/numbers/:id/sync). App id and configuration id are public values.
 */
export function onboardingPageRouter(opts: { config: Pick<Config, 'META_APP_ID' | 'META_CONFIG_ID' | 'GRAPH_API_VERSION'>; sdkUrl?: string }): Router {
  const router = express.Router();
  const sdkUrl = opts.sdkUrl ?? 'https://connect.facebook.net/en_US/sdk.js';
  const headers = {
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src 'self' ${new URL(sdkUrl).origin}`,
      "style-src 'unsafe-inline'",
      "connect-src 'self' https://*.facebook.com https://connect.facebook.net",
      'frame-src https://*.facebook.com',
      'img-src https://*.facebook.com https://*.fbcdn.net data:',
      "form-action 'none'",
      "base-uri 'none'",
    ].join('; '),
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'same-origin',
    'X-Content-Type-Options': 'nosniff',
  };

  router.get('/onboarding', (req: Request, res: Response) => {
    const lang = pickLang(req.query.lang, req.get('accept-language'));
    res.set(headers).type('html').send(page(lang, opts.config, sdkUrl));
  });
  router.get('/onboarding/app.js', (_req: Request, res: Response) => {
    res.set(headers).type('application/javascript').send(ONBOARDING_SCRIPT);
  });
  return router;
}

const T: Record<Lang, Record<string, string>> = {
  en: {
    title: 'Connect your WhatsApp Business number',
    intro: 'Your number keeps working in the WhatsApp Business app on your phone. You will confirm on the phone and choose whether to share your chat history.',
    token: 'API token given by your operator',
    tenant: 'Business id (admin token only)',
    start: 'Connect with Facebook',
    steps: 'Steps',
    sync: 'History sync',
    not_configured: 'Onboarding is not configured on this server: set META_APP_ID and META_CONFIG_ID.',
  },
  fr: {
    title: 'Connecter votre numéro WhatsApp Business',
    intro: 'Votre numéro continue de fonctionner dans l’application WhatsApp Business de votre téléphone. Vous confirmerez sur le téléphone et choisirez de partager ou non l’historique.',
    token: 'Jeton d’API fourni par votre opérateur',
    tenant: 'Identifiant de l’entreprise (jeton d’administration seulement)',
    start: 'Se connecter avec Facebook',
    steps: 'Étapes',
    sync: 'Synchronisation de l’historique',
    not_configured: 'L’inscription n’est pas configurée sur ce serveur : définissez META_APP_ID et META_CONFIG_ID.',
  },
  ar: {
    title: 'ربط رقم واتساب للأعمال',
    intro: 'يبقى رقمك يعمل في تطبيق واتساب للأعمال على هاتفك. ستؤكد على الهاتف وتختار مشاركة سجل المحادثات أو لا.',
    token: 'رمز API الذي أعطاك إياه المشغل',
    tenant: 'معرّف النشاط (رمز المشرف فقط)',
    start: 'المتابعة مع فيسبوك',
    steps: 'الخطوات',
    sync: 'مزامنة السجل',
    not_configured: 'التسجيل غير مُعد على هذا الخادم: عيّن META_APP_ID و META_CONFIG_ID.',
  },
};

const esc = (v: string): string => v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(lang: Lang, config: Pick<Config, 'META_APP_ID' | 'META_CONFIG_ID' | 'GRAPH_API_VERSION'>, sdkUrl: string): string {
  const t = T[lang];
  const configured = Boolean(config.META_APP_ID && config.META_CONFIG_ID);
  const settings = esc(JSON.stringify({ appId: config.META_APP_ID ?? null, configId: config.META_CONFIG_ID ?? null, graphVersion: config.GRAPH_API_VERSION, lang }));
  return `<!doctype html><html lang="${lang}" dir="${lang === 'ar' ? 'rtl' : 'ltr'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(t.title!)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:720px;margin:2rem auto;padding:0 1rem;color:#1d2327}label{display:block;margin:.6rem 0}input{font:inherit;width:100%;max-width:420px}
button{font:inherit;padding:.5rem 1rem;background:#1877f2;color:#fff;border:0;border-radius:6px;cursor:pointer}button[disabled]{opacity:.5}
li.ok::marker{content:"✓ ";color:#0a7a3d}li.failed::marker{content:"✗ ";color:#8a2424}.warn{color:#8a2424}progress{width:240px}</style></head>
<body data-settings="${settings}"><h1>${esc(t.title!)}</h1><p>${esc(t.intro!)}</p>
${configured ? '' : `<p class="warn" id="not-configured">${esc(t.not_configured!)}</p>`}
<label>${esc(t.token!)} <input id="api-token" type="password" autocomplete="off"></label>
<label>${esc(t.tenant!)} <input id="tenant-id" autocomplete="off"></label>
<p><button id="start" type="button"${configured ? '' : ' disabled'}>${esc(t.start!)}</button></p>
<p id="status" role="status"></p>
<h2>${esc(t.steps!)}</h2><ol id="steps"></ol>
<h2>${esc(t.sync!)}</h2><p id="sync"><progress id="sync-progress" max="100" value="0"></progress> <span id="sync-text">—</span></p>
<script src="/onboarding/app.js"></script>${configured ? `<script async defer crossorigin="anonymous" src="${esc(sdkUrl)}"></script>` : ''}
</body></html>`;
}
