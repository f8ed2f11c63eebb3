import express, { type Request, type Response, type Router } from 'express';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import type { Config } from '../config.js';
import { secretEquals, sha256Hex } from '../crypto.js';
import { listNumbers, listTenants, moveNumber, AdminError, type NumberSummary } from '../admin/tenants-numbers.js';
import { listCrmConnections, retryDeadLetters } from '../crm/connections.js';
import { campaignReport, listCampaigns } from '../campaigns/store.js';
import type { CampaignReport } from '../campaigns/store.js';
import type { ConfigurationGap } from '../config-report.js';
import type { TenantScope } from '../store/queries.js';
import { liftTemplatesHold } from '../store/account-hold.js';
import { pickLang, translator, type Lang } from './i18n.js';

export interface ConsoleOptions {
  db: Kysely<Database>;
  config: Config;
  adminToken: string | undefined;
  gaps: ConfigurationGap[];
  /** Wakes a connection's CRM outbox after its dead letters were queued again. */
  wakeCrm: (connectionId: string) => Promise<unknown>;
}

const COOKIE = 'coex_console';
const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The operator console: server-rendered HTML behind the admin token (or a tenant token, which sees
 * its own tenant), signed in through a form that keeps the token in an HttpOnly, SameSite=Strict
 * cookie scoped to /console. Actions are plain form POSTs (same-origin only).
 */
export function consoleRouter(opts: ConsoleOptions): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '8kb' });

  const scopeOf = async (req: Request): Promise<TenantScope | undefined> => {
    const token = cookie(req, COOKIE);
    if (!token) return undefined;
    if (opts.adminToken && secretEquals(token, opts.adminToken)) return null;
    const row = await opts.db.selectFrom('api_tokens').select('tenant_id').where('token_hash', '=', sha256Hex(token)).executeTakeFirst();
    return row ? row.tenant_id : undefined;
  };
  const sameOrigin = (req: Request): boolean => {
    const origin = req.get('origin');
    return !origin || origin === `${req.protocol}://${req.get('host')}`;
  };
  const secureHeaders = (res: Response) =>
    res.set({
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'Cache-Control': 'no-store',
      // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts,
      // and the same-origin check of the actions needs the real origin.
      'Referrer-Policy': 'same-origin',
      'X-Content-Type-Options': 'nosniff',
    });

  router.get('/console', async (req: Request, res: Response) => {
    const lang = pickLang(req.query.lang, req.get('accept-language'));
    secureHeaders(res);
    const scope = await scopeOf(req);
    if (scope === undefined) return void res.type('html').send(loginPage(lang, req.query.error === 'token'));
    const flash = typeof req.query.flash === 'string' ? req.query.flash.slice(0, 300) : null;
    res.type('html').send(await dashboard(opts, scope, lang, flash));
  });

  router.post('/console/login', form, async (req: Request, res: Response) => {
    const body = z.object({ token: z.string().min(1).max(500), lang: z.string().optional() }).safeParse(req.body);
    const lang = pickLang(body.data?.lang, req.get('accept-language'));
    if (!sameOrigin(req) || !body.success) return void res.redirect(303, `/console?lang=${lang}&error=token`);
    const token = body.data.token.trim();
    const valid = (opts.adminToken && secretEquals(token, opts.adminToken)) || (await opts.db.selectFrom('api_tokens').select('tenant_id').where('token_hash', '=', sha256Hex(token)).executeTakeFirst());
    if (!valid) return void res.redirect(303, `/console?lang=${lang}&error=token`);
    res.cookie(COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/console', secure: req.secure, maxAge: 12 * 3600_000 });
    res.redirect(303, `/console?lang=${lang}`);
  });

  router.post('/console/logout', form, (req: Request, res: Response) => {
    res.clearCookie(COOKIE, { path: '/console' });
    res.redirect(303, `/console?lang=${pickLang(req.body?.lang, req.get('accept-language'))}`);
  });

  router.post('/console/numbers/:id/move', form, async (req: Request, res: Response) => {
    const lang = pickLang(req.body?.lang, req.get('accept-language'));
    const t = translator(lang);
    const scope = await scopeOf(req);
    if (scope !== null || !sameOrigin(req)) return void res.status(403).type('text').send(t('admin_only'));
    const body = z.object({ tenant_id: z.string().min(1) }).safeParse(req.body);
    if (!body.success) return void res.redirect(303, `/console?lang=${lang}`);
    const number = String(req.params.id);
    try {
      await moveNumber(opts.db, number, body.data.tenant_id);
      res.redirect(303, `/console?lang=${lang}&flash=${encodeURIComponent(t('moved', { number, tenant: body.data.tenant_id }))}#numbers`);
    } catch (error) {
      if (error instanceof AdminError) return void res.redirect(303, `/console?lang=${lang}&flash=${encodeURIComponent(error.message)}#numbers`);
      throw error;
    }
  });

  // Meta ended a restriction of business-initiated messaging early without a webhook: lifted by hand
  // (a tenant on its own numbers, the admin on any).
  router.post('/console/numbers/:id/lift-hold', form, async (req: Request, res: Response) => {
    const lang = pickLang(req.body?.lang, req.get('accept-language'));
    const t = translator(lang);
    const scope = await scopeOf(req);
    if (scope === undefined || !sameOrigin(req)) return void res.status(403).type('text').send('sign in first');
    const number = String(req.params.id);
    const outcome = await liftTemplatesHold(opts.db, scope, number, scope === null ? 'console (admin)' : `console (${scope})`);
    if (outcome.kind === 'not_found') return void res.status(404).type('text').send('number not found');
    const flash = outcome.kind === 'lifted' ? t('hold_lifted', { number }) : t('nothing_held', { number });
    res.redirect(303, `/console?lang=${lang}&flash=${encodeURIComponent(flash)}#numbers`);
  });

  router.post('/console/crm/:id/retry', form, async (req: Request, res: Response) => {
    const lang = pickLang(req.body?.lang, req.get('accept-language'));
    const t = translator(lang);
    const scope = await scopeOf(req);
    if (scope === undefined || !sameOrigin(req)) return void res.status(403).type('text').send('sign in first');
    const r = await retryDeadLetters(opts.db, scope, String(req.params.id));
    if (!r) return void res.status(404).type('text').send('connection not found');
    await opts.wakeCrm(String(req.params.id));
    res.redirect(303, `/console?lang=${lang}&flash=${encodeURIComponent(t('retried', { count: r.requeued, account: r.account }))}#crm`);
  });

  return router;
}

function cookie(req: Request, name: string): string | null {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) {
      try {
        return decodeURIComponent(v.join('='));
      } catch {
        return null;
      }
    }
  }
  return null;
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2327;background:#f6f7f7}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#0b3d2e;color:#fff}
header h1{font-size:1.1rem;margin:0;flex:1} header a,header button{color:#fff;background:none;border:0;font:inherit;cursor:pointer}
main{padding:1rem 1.2rem;max-width:1200px} section{background:#fff;border:1px solid #dcdcde;border-radius:6px;margin:0 0 1rem;padding:.6rem 1rem}
h2{font-size:1rem;margin:.3rem 0 .6rem} table{border-collapse:collapse;width:100%} th,td{text-align:start;padding:.3rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#50575e} .warn{color:#8a2424;font-weight:600} .ok{color:#0a7a3d} .muted{color:#787c82}
.flash{background:#e7f5ec;border:1px solid #0a7a3d;padding:.5rem 1rem;border-radius:6px;margin-bottom:1rem}
.bar{display:inline-block;width:80px;height:8px;background:#eee;border-radius:4px;vertical-align:middle}.bar i{display:block;height:100%;background:#0a7a3d;border-radius:4px}
form.inline{display:inline} select,input,button{font:inherit} button.action{padding:.15rem .6rem}`;

function page(lang: Lang, title: string, body: string): string {
  return `<!doctype html><html lang="${lang}" dir="${lang === 'ar' ? 'rtl' : 'ltr'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

function langLinks(lang: Lang): string {
  return (['en', 'fr', 'ar'] as const).map((l) => (l === lang ? `<strong>${l.toUpperCase()}</strong>` : `<a href="/console?lang=${l}">${l.toUpperCase()}</a>`)).join(' · ');
}

function loginPage(lang: Lang, failed: boolean): string {
  const t = translator(lang);
  return page(
    lang,
    t('title'),
    `<header><h1>${esc(t('title'))}</h1><nav>${langLinks(lang)}</nav></header><main><section><h2>${esc(t('login_title'))}</h2>
<p class="muted">${esc(t('login_help'))}</p>${failed ? `<p class="warn" id="login-error">${esc(t('bad_token'))}</p>` : ''}
<form method="post" action="/console/login"><input type="hidden" name="lang" value="${lang}"><label>${esc(t('token'))} <input type="password" name="token" id="token" autocomplete="off" size="40"></label> <button type="submit" id="sign-in">${esc(t('sign_in'))}</button></form></section></main>`,
  );
}

async function agentStates(db: Kysely<Database>, scope: TenantScope) {
  let q = db
    .selectFrom('threads')
    .select(['tenant_id', sql<string>`count(*) filter (where bot_state = 'active')`.as('active'), sql<string>`count(*) filter (where bot_state <> 'active')`.as('paused')])
    .groupBy('tenant_id');
  if (scope !== null) q = q.where('tenant_id', '=', scope);
  const counts = new Map((await q.execute()).map((r) => [r.tenant_id, { active: Number(r.active), paused: Number(r.paused) }]));
  let s = db
    .selectFrom('agent_turns')
    .distinctOn('tenant_id')
    .select(['tenant_id', 'reason', 'created_at'])
    .where('status', '=', 'skipped')
    .orderBy('tenant_id')
    .orderBy('created_at', 'desc');
  if (scope !== null) s = s.where('tenant_id', '=', scope);
  const skipped = new Map((await s.execute()).map((r) => [r.tenant_id, { reason: r.reason, at: r.created_at.toISOString() }]));
  return { counts, skipped };
}

function syncCell(n: NumberSummary): string {
  const p = Math.max(0, Math.min(100, n.history.progress));
  return `${esc(n.history.status)} <span class="bar" title="${p}%"><i style="width:${p}%"></i></span> ${p}% <span class="muted">(${n.history.messages})</span>`;
}

async function dashboard(opts: ConsoleOptions, scope: TenantScope, lang: Lang, flash: string | null): Promise<string> {
  const t = translator(lang);
  const [tenants, numbers, connections, campaigns, agent] = await Promise.all([
    listTenants(opts.db, scope),
    listNumbers(opts.db, scope),
    listCrmConnections(opts.db, scope),
    listCampaigns(opts.db, scope, { limit: 20 }),
    agentStates(opts.db, scope),
  ]);
  const reports = (await Promise.all(campaigns.map((c) => campaignReport(opts.db, scope, c.id)))).filter((r): r is CampaignReport => r !== null);
  const isAdmin = scope === null;
  const allTenants = isAdmin ? tenants.map((x) => x.id) : [];
  const mode = opts.config.COEX_AGENT === 'off' ? t('agent_off') : opts.config.GEMINI_API_KEY ? t('agent_gemini') : t('agent_offline');

  const tenantRows = tenants
    .map((x) => {
      const c = agent.counts.get(x.id) ?? { active: 0, paused: 0 };
      const skip = agent.skipped.get(x.id);
      return `<tr data-tenant="${esc(x.id)}"><td>${esc(x.id)}</td><td>${esc(x.name)}</td><td>${x.numbers}</td><td>${x.crm_connections}</td></tr>
<tr class="agent" data-agent="${esc(x.id)}"><td></td><td colspan="3"><strong>${esc(t('agent'))}</strong>: ${esc(t('agent_mode'))} ${esc(mode)} · ${esc(t('profile'))}: ${x.has_profile ? `<span class="ok">${esc(t('profile_set'))}</span>` : `<span class="warn">${esc(t('profile_missing'))}</span>`} · ${esc(t('threads_active'))} ${c.active} · ${esc(t('threads_paused'))} ${c.paused} · ${esc(t('last_not_answered'))}: ${skip ? `<span class="warn">${esc(skip.reason)}</span>` : esc(t('none'))}</td></tr>`;
    })
    .join('');

  const numberRows = numbers
    .map((n) => {
      const activity = n.last_app_activity_at ? t('days_ago', { days: n.app_inactive_days ?? 0 }) : t('never_seen');
      const warning = n.inactivity_warning ? `<div class="warn inactivity">${esc(t('inactivity_warning', { days: n.app_inactive_days ?? 0 }))}</div>` : '';
      const move = isAdmin
        ? `<form class="inline" method="post" action="/console/numbers/${esc(n.phone_number_id)}/move"><input type="hidden" name="lang" value="${lang}"><select name="tenant_id" aria-label="${esc(t('move_to'))}">${allTenants.map((id) => `<option value="${esc(id)}"${id === n.tenant_id ? ' selected' : ''}>${esc(id)}</option>`).join('')}</select> <button class="action" type="submit">${esc(t('move'))}</button></form>`
        : '';
      const held = n.templates_held
        ? `<div class="warn hold">${esc(n.templates_held.until ? t('held_until', { until: n.templates_held.until }) : t('held_no_end'))}</div><form class="inline" method="post" action="/console/numbers/${esc(n.phone_number_id)}/lift-hold"><input type="hidden" name="lang" value="${lang}"><button class="action lift-hold" type="submit">${esc(t('lift_hold'))}</button></form>`
        : '';
      const conn = `<span class="${n.connection.status === 'connected' ? 'ok' : 'warn'}">${esc(n.connection.status)}</span>${n.connection.reason ? ` <span class="muted">${esc(n.connection.reason)}</span>` : ''}${held}`;
      return `<tr data-number="${esc(n.phone_number_id)}"><td>${esc(n.display_phone_number ?? n.phone_number_id)}<div class="muted">${esc(n.phone_number_id)}</div></td><td>${esc(n.tenant_id)}</td><td>${conn}</td><td>${esc(n.quality ?? '—')}</td><td>${syncCell(n)}</td><td>${esc(activity)}${warning}</td><td>${move}</td></tr>`;
    })
    .join('');

  const crmRows = connections
    .map(
      (c) => `<tr data-connection="${esc(c.id)}"><td>${esc(c.tenant_id)}</td><td>${esc(c.crm)}</td><td>${esc(c.account)}</td><td>${esc(c.status)}</td><td>${c.pending}</td><td>${c.done}</td><td class="${c.dead > 0 ? 'warn' : ''}">${c.dead}</td><td>${esc(c.last_dead_reason ?? '')}</td><td>${c.dead > 0 ? `<form class="inline" method="post" action="/console/crm/${esc(c.id)}/retry"><input type="hidden" name="lang" value="${lang}"><button class="action retry" type="submit">${esc(t('retry'))}</button></form>` : ''}</td></tr>`,
    )
    .join('');

  const campaignRows = reports
    .map(
      (r) => `<tr data-campaign="${esc(r.id)}"><td>${esc(r.name)}</td><td>${esc(r.tenant_id)}</td><td>${esc(r.status)}${r.status_reason ? `<div class="muted reason">${esc(r.status_reason)}</div>` : ''}</td><td>${esc(r.template.name)} (${esc(r.template.language)})</td><td>${r.counts.total}</td><td>${r.counts.sent}</td><td>${r.counts.delivered}</td><td>${r.counts.read}</td><td>${r.counts.failed}${r.failures.length ? ` <span class="muted">${r.failures.map((f) => `${esc(f.code)}×${f.count}`).join(', ')}</span>` : ''}</td><td>${r.counts.replied}</td></tr>`,
    )
    .join('');

  const gaps = isAdmin && opts.gaps.length
    ? `<section id="config"><h2>${esc(t('not_configured'))}</h2><ul>${opts.gaps.map((g) => `<li><code>${esc(g.missing)}</code>: ${esc(g.disables)}</li>`).join('')}</ul></section>`
    : '';

  return page(
    lang,
    t('title'),
    `<header><h1>${esc(t('title'))}</h1><a href="/onboarding?lang=${lang}">${esc(t('onboarding'))}</a><nav>${langLinks(lang)}</nav><form class="inline" method="post" action="/console/logout"><input type="hidden" name="lang" value="${lang}"><button type="submit">${esc(t('sign_out'))}</button></form></header>
<main>${flash ? `<div class="flash" id="flash">${esc(flash)}</div>` : ''}
<section id="tenants"><h2>${esc(t('tenants'))}</h2><table><thead><tr><th>${esc(t('id'))}</th><th>${esc(t('name'))}</th><th>${esc(t('numbers'))}</th><th>${esc(t('crm'))}</th></tr></thead><tbody>${tenantRows}</tbody></table></section>
<section id="numbers"><h2>${esc(t('numbers'))}</h2><table><thead><tr><th>${esc(t('number'))}</th><th>${esc(t('tenant'))}</th><th>${esc(t('connection'))}</th><th>${esc(t('quality'))}</th><th>${esc(t('history_sync'))}</th><th>${esc(t('app_activity'))}</th><th>${isAdmin ? esc(t('move_to')) : ''}</th></tr></thead><tbody>${numberRows}</tbody></table></section>
<section id="crm"><h2>${esc(t('crm'))}</h2><table><thead><tr><th>${esc(t('tenant'))}</th><th>CRM</th><th>${esc(t('account'))}</th><th>${esc(t('status'))}</th><th>${esc(t('pending'))}</th><th>${esc(t('done'))}</th><th>${esc(t('dead'))}</th><th>${esc(t('last_error'))}</th><th></th></tr></thead><tbody>${crmRows}</tbody></table></section>
<section id="campaigns"><h2>${esc(t('campaigns'))}</h2><table><thead><tr><th>${esc(t('name'))}</th><th>${esc(t('tenant'))}</th><th>${esc(t('status'))}</th><th>${esc(t('template'))}</th><th>${esc(t('recipients'))}</th><th>${esc(t('sent'))}</th><th>${esc(t('delivered'))}</th><th>${esc(t('read'))}</th><th>${esc(t('failed'))}</th><th>${esc(t('replied'))}</th></tr></thead><tbody>${campaignRows}</tbody></table></section>
${gaps}</main>`,
  );
}
