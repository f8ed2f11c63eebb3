/*
 * Static PREVIEWS of the CoEx card for docs: CoexCard rendered with HubSpot's testing renderer
 * (createRenderer, mocked CRM hooks) against the stub extension API through the hubspot.fetch
 * emulation, then converted to HTML by preview-html.ts (an approximation of HubSpot's UI
 * components; HubSpot's own renderer only runs inside HubSpot). Two demo states: an open window
 * with a reply being typed, campaign reports and an opt-out (hubspot-card.png); a closed window
 * with the template picker filled in (hubspot-card-templates.png). The HTML goes to a temp dir.
 * With COEX_WRITE_SCREENSHOTS=1 and /usr/bin/chromium present both are also screenshotted into
 * docs/screenshots/; otherwise no tracked file is written.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createElement } from 'react';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flex, Input, Link, Select, Tag, TableRow, TextArea } from '@hubspot/ui-extensions';
import type { CrmContext, InputProps, TextAreaProps } from '@hubspot/ui-extensions';
import { createRenderer, type RenderedElementNode } from '@hubspot/ui-extensions/testing';
import { CoexCard } from '../src/app/cards/CoexCard.js';
import { emulateHubSpotFetch, startCoexExtApiStub, type CoexExtApiStub, type StubCampaignsAnswer, type StubSync, type StubThread } from './coex-ext-api-stub.js';
import { campaign, msg, sampleCampaigns, sampleTemplates } from './fixtures.js';
import { PREVIEW_LABEL, renderPreviewPage, type PreviewPage } from './preview-html.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = {
  conversation: fileURLToPath(new URL('../../docs/screenshots/hubspot-card.png', import.meta.url)),
  templates: fileURLToPath(new URL('../../docs/screenshots/hubspot-card-templates.png', import.meta.url)),
};
const writeScreenshot = process.env.COEX_WRITE_SCREENSHOTS === '1' && existsSync(CHROMIUM);
const WAIT = { timeoutInMs: 5_000 };
const PHONE = '+212612345678';
const YOUSSEF = '+212699887766';
const NOW = new Date('2026-11-25T12:00:00.000Z');
const DRAFT = 'Chokran Salma, ghadi nsiftouh lik lyoum.';
const WIDTH = 900;

/** A Darija/French conversation with every origin, a transcribed voice note and a paused bot. */
function demoThread(): StubThread {
  return {
    id: 'c0e0c0e0-0000-4000-8000-00000000d3m0',
    contact_name: 'Salma Benali',
    wa_id: '212612345678',
    bot: {
      state: 'paused',
      paused_until: '2026-11-25T21:00:00.000Z',
      history: [
        { from: 'active', to: 'handoff_requested', cause: 'handoff:asked_for_human', actor: null, at: '2026-11-24T10:02:00.000Z' },
        { from: 'handoff_requested', to: 'active', cause: 'crm_hubspot_resume', actor: 'nadia@atlas-sacs.ma', at: '2026-11-24T10:30:00.000Z' },
        { from: 'active', to: 'paused', cause: 'app_echo', actor: null, at: '2026-11-25T09:00:00.000Z' },
      ],
    },
    window: { open: true, closes_at: '2026-11-26T09:20:00.000Z' },
    messages: [
      msg({ id: 'h1', direction: 'inbound', origin: 'history', text: 'Salam, chhal taman dyal sac l-kbir?', timestamp: '2026-11-18T17:40:00.000Z' }),
      msg({ id: 'h2', direction: 'outbound', origin: 'history', text: '250 DH, kayn f lk7el w l-marron.', timestamp: '2026-11-18T18:05:00.000Z' }),
      msg({ id: 'c1', direction: 'inbound', origin: 'customer', text: 'Bonjour, wach mazal kayn le sac noir?', timestamp: '2026-11-24T10:00:00.000Z' }),
      msg({ id: 'a1', direction: 'outbound', origin: 'agent', text: 'Oui, il reste 3 pièces en noir. Bghiti nsiftouh lik?', timestamp: '2026-11-24T10:00:06.000Z' }),
      msg({ id: 'c2', direction: 'inbound', origin: 'customer', text: 'Iyeh, livraison l Casa chhal katakhod?', timestamp: '2026-11-24T10:01:00.000Z' }),
      msg({ id: 'a2', direction: 'outbound', origin: 'agent', text: 'Livraison 24 à 48h f Casablanca, gratuite.', timestamp: '2026-11-24T10:01:05.000Z' }),
      msg({ id: 'p1', direction: 'outbound', origin: 'app', text: 'Ana Karim, ghadi nkemmel m3ak. Noir wla marron?', timestamp: '2026-11-25T09:00:00.000Z' }),
      msg({ id: 'v1', direction: 'inbound', origin: 'customer', type: 'audio', text: null, transcript: 'noir, w bghit nkhelles 3end livraison, wach momkin?', transcript_state: 'done', timestamp: '2026-11-25T09:05:00.000Z' }),
      msg({ id: 'api1', direction: 'outbound', origin: 'api', text: 'Paiement à la livraison possible. Commande confirmée.', timestamp: '2026-11-25T09:12:00.000Z' }),
      msg({ id: 'c3', direction: 'inbound', origin: 'customer', text: 'Merci bezzaf!', timestamp: '2026-11-25T09:20:00.000Z' }),
    ],
  };
}

/**
 * Another customer, last heard from three days ago: the window is closed, templates only; since then
 * Meta's AI agent holds the chat (Conversation Routing), so the card says who answers him.
 */
function closedWindowThread(): StubThread {
  return {
    id: 'c0e0c0e0-0000-4000-8000-00000000d3m1',
    contact_name: 'Youssef Alami',
    wa_id: '212699887766',
    bot: { state: 'active', paused_until: null, history: [] },
    control: { holder: 'meta_agent', app_id: null, since: '2026-11-22T16:45:00.000Z' },
    window: { open: false, closes_at: '2026-11-23T16:31:00.000Z' },
    messages: [
      msg({ id: 'y1', direction: 'inbound', origin: 'customer', text: 'Salam, commande CMD-1042 wach tsiftat?', timestamp: '2026-11-22T16:30:00.000Z' }),
      msg({ id: 'y2', direction: 'outbound', origin: 'agent', text: 'Mazal, ghadi tsift ghedda inchallah. Ghadi nbe3tou lik l-message mlli tkhrej.', timestamp: '2026-11-22T16:30:07.000Z' }),
      msg({ id: 'y3', direction: 'inbound', origin: 'customer', text: 'Merci!', timestamp: '2026-11-22T16:31:00.000Z' }),
    ],
  };
}

const youssefCampaigns: StubCampaignsAnswer = {
  campaigns: [
    campaign({
      id: 'ca000000-0000-4000-8000-000000000001',
      name: 'Soldes Ramadan',
      failures: [{ code: '131049', count: 5, example: null }, { code: '131026', count: 1, example: null }],
      recipient: { status: 'sent', message_status: 'delivered', error_code: null, error: null, sent_at: '2026-11-20T09:14:00.000Z', replied: false },
    }),
  ],
  opt_out: null,
};

function chromium(args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'coex-chromium-'));
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage', `--user-data-dir=${profile}`];
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, [...flags, ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true });
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The page's full height as laid out at WIDTH (preview-html.ts writes it into data-height), so the shot is not cut off. */
async function pageHeight(file: string): Promise<number> {
  const dom = await chromium(['--dump-dom', `--window-size=${WIDTH},1000`, pathToFileURL(file).href]);
  const height = Number(/data-height="(\d+)"/.exec(dom)?.[1]);
  if (!Number.isFinite(height) || height <= 0) throw new Error('the preview page did not report its height');
  return height;
}

const stubs: CoexExtApiStub[] = [];
const pages: Record<keyof typeof SCREENSHOTS, PreviewPage> = {} as Record<keyof typeof SCREENSHOTS, PreviewPage>;
const htmlFiles: Partial<Record<keyof typeof SCREENSHOTS, string>> = {};
let outDir: string;

type Renderer = ReturnType<typeof createRenderer<'crm.record.tab'>>;

async function renderDemo(opts: { phone: string; thread: StubThread; sync: StubSync; campaigns: StubCampaignsAnswer; interact: (renderer: Renderer) => Promise<void> }): Promise<PreviewPage> {
  const stub = await startCoexExtApiStub({ threads: { [opts.phone]: opts.thread }, sync: opts.sync, campaigns: { [opts.phone]: opts.campaigns }, templates: sampleTemplates() });
  stubs.push(stub);
  const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
  const renderer = createRenderer('crm.record.tab');
  renderer.mocks.useCrmProperties.willCall((names) => ({
    properties: Object.fromEntries(names.map((n) => [n, n === 'hs_whatsapp_phone_number' ? opts.phone : null])),
    error: null,
    isLoading: false,
    isRefetching: false,
    refetch: async () => {},
  }));
  const base = renderer.mocks.context as CrmContext;
  const context: CrmContext = { ...base, crm: { objectId: 42, objectTypeId: '0-1' }, portal: { ...base.portal, timezone: 'Africa/Casablanca' } };
  // A history import keeps the card polling; a long interval keeps this snapshot still.
  renderer.render(createElement(CoexCard, { context, fetcher: hs.fetch, serverUrl: stub.url, now: () => NOW, refreshWhileBusyMs: 10 * 60_000 }));
  await opts.interact(renderer);
  const page = renderPreviewPage(renderer.getRootNode(), {
    cardTitle: 'WhatsApp (CoEx)',
    note: 'Approximate styles, not HubSpot\'s renderer. CoexCard rendered with @hubspot/ui-extensions/testing against a stub CoEx extension API, demo data.',
  });
  renderer.render(null); // unmount: stops the card's refresh timer
  return page;
}

beforeAll(async () => {
  pages.conversation = await renderDemo({
    phone: PHONE,
    thread: demoThread(),
    sync: { history: { status: 'in_progress', progress: 64 }, contacts: { status: 'receiving' } },
    campaigns: sampleCampaigns(),
    interact: async (renderer) => {
      await renderer.waitFor(() => expect(renderer.findByTestId(TableRow, 'coex-message-c3')).toBeTruthy(), WAIT);
      await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Flex, 'coex-campaigns')?.findAll(Tag).length).toBeGreaterThan(0), WAIT);
      // An agent halfway through a reply: shows the composer with its Send button enabled.
      const reply = renderer.findByTestId(TextArea, 'coex-reply-text') as RenderedElementNode<TextAreaProps>;
      reply.trigger('onInput', DRAFT as never);
      await renderer.waitFor(() => expect(renderer.findByTestId(TextArea, 'coex-reply-text').props.value).toBe(DRAFT), WAIT);
    },
  });
  pages.templates = await renderDemo({
    phone: YOUSSEF,
    thread: closedWindowThread(),
    sync: { history: { status: 'complete', progress: 100 }, contacts: { status: 'receiving' } },
    campaigns: youssefCampaigns,
    interact: async (renderer) => {
      await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
      await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Flex, 'coex-campaigns')?.findAll(Tag).length).toBeGreaterThan(0), WAIT);
      // The person picked "order_shipped" and filled its two placeholders.
      renderer.findByTestId(Select, 'coex-template-select').trigger('onChange', 'order_shipped|fr' as never);
      (renderer.findByTestId(Input, 'coex-template-param-1') as RenderedElementNode<InputProps>).trigger('onInput', 'Youssef' as never);
      (renderer.findByTestId(Input, 'coex-template-param-2') as RenderedElementNode<InputProps>).trigger('onInput', 'CMD-1042' as never);
      await renderer.waitFor(() => expect(renderer.findByTestId(Input, 'coex-template-param-2').props.value).toBe('CMD-1042'), WAIT);
    },
  });
  outDir = mkdtempSync(join(tmpdir(), 'coex-hubspot-preview-'));
  for (const name of Object.keys(SCREENSHOTS) as (keyof typeof SCREENSHOTS)[]) {
    htmlFiles[name] = join(outDir, `${name}.html`);
    writeFileSync(htmlFiles[name], pages[name].html);
  }
});

afterAll(async () => {
  await Promise.all(stubs.map((s) => s.close()));
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const tagsIn = (fragment: string) => [...fragment.matchAll(/<span class="hs-tag tag-([a-z]+)"(?: data-testid="[^"]*")?>([^<]*)<\/span>/g)].map((m) => `${m[2]}:${m[1]}`);

describe('HubSpot card preview (static HTML of the createRenderer tree)', () => {
  it('maps every component the card uses and labels the pages as previews', () => {
    for (const page of Object.values(pages)) {
      expect(page.unknownComponents).toEqual([]);
      expect(page.html).toContain(PREVIEW_LABEL);
      expect(page.html).not.toContain('hs-unknown"');
    }
  });

  it('shows origin badges, the transcript, the bot state with its causes and the history sync', () => {
    const { html } = pages.conversation;
    const row = (id: string) => new RegExp(`<tr data-testid="coex-message-${id}">(.*?)</tr>`).exec(html)?.[1] ?? '';

    expect(tagsIn(row('h1'))).toEqual(['In:default', 'History:default']);
    expect(tagsIn(row('c1'))).toEqual(['In:default', 'Customer:default']);
    expect(tagsIn(row('a1'))).toEqual(['Out:info', 'AI agent:success']);
    expect(tagsIn(row('p1'))).toEqual(['Out:info', 'Phone app:info']);
    expect(tagsIn(row('api1'))).toEqual(['Out:info', 'API:warning']);
    expect(row('a1')).toContain('Oui, il reste 3 pièces en noir. Bghiti nsiftouh lik?');
    expect(row('v1')).toContain('<p class="hs-text variant-microcopy weight-regular" data-testid="coex-transcript-v1">Transcript: noir, w bghit nkhelles 3end livraison, wach momkin?</p>');

    expect(html).toMatch(/<span class="hs-tag tag-warning" data-testid="coex-bot-state">Bot paused until [^<]+<\/span>/);
    expect(html).toMatch(/<span class="hs-tag tag-success" data-testid="coex-window">Window open: closes in 21 h 20 min<\/span>/);
    for (const cause of ['Owner replied from the phone app', 'Resumed from HubSpot', 'Customer asked for a person (asked for human)', 'nadia@atlas-sacs.ma']) {
      expect(html).toContain(cause);
    }
    expect(html).toMatch(/<button type="button" class="hs-button btn-primary size-sm" data-testid="coex-bot-primary">Resume bot<\/button>/);

    expect(html).toContain('<span class="hs-tag tag-info" data-testid="coex-history-sync">Importing chat history: 64%</span>');
    expect(html).toContain('<div class="hs-progress-fill" style="width:64%"></div>');
    expect(html).toContain(`>${DRAFT}</textarea>`);
    expect(html).toMatch(/<button type="button" class="hs-button btn-primary size-md" data-testid="coex-send-text">Send<\/button>/);
  });

  it('shows the opt-out at the top and each campaign as a collapsible entry with the contact\'s outcome', () => {
    const { html } = pages.conversation;
    // The opt-out comes before the conversation, not buried under the campaigns.
    expect(html).toMatch(/<div class="hs-alert alert-warning" role="alert" data-testid="coex-opt-out"><p class="hs-alert-title">Opted out of marketing messages<\/p><div class="hs-alert-body">Wrote &quot;baraka&quot; on 24 Nov, /);
    expect(html.indexOf('coex-opt-out')).toBeLessThan(html.indexOf('coex-timeline'));

    const entry = (id: string) => new RegExp(`<details class="hs-accordion size-sm"( open)? data-testid="coex-campaign-${id}"><summary>([^<]*)</summary>(.*?)</details>`).exec(html);
    const friday = entry('ca000000-0000-4000-8000-000000000002');
    const ramadan = entry('ca000000-0000-4000-8000-000000000001');
    expect([friday?.[1], friday?.[2]]).toEqual([' open', 'Black Friday: failed']);
    expect(tagsIn(friday?.[3] ?? '')).toEqual(['Failed:error', 'Running:info']);
    expect(friday?.[3]).toContain('Error 131049: This message was not delivered to maintain healthy ecosystem engagement.');
    expect(friday?.[3]).toContain('670 sent · 640 delivered · 410 read · 5 failed · 38 replied of 800');
    expect(friday?.[3]).toContain('Top failures: 131049 ×4, 131026 ×1');
    expect([ramadan?.[1], ramadan?.[2]]).toEqual([undefined, 'Soldes Ramadan: read, replied']);
    expect(tagsIn(ramadan?.[3] ?? '')).toEqual(['Read:success', 'Replied:success', 'Completed:success']);
  });

  it('shows the template picker of a closed window with its parameters and the filled-in preview', () => {
    const { html } = pages.templates;
    expect(html).toContain('<span class="hs-tag tag-warning" data-testid="coex-window">Window closed: templates only</span>');
    expect(html).not.toContain('<textarea');
    expect(html).toContain('<option selected>order_shipped (fr)</option>');
    expect(html).not.toContain('promo_photo');
    expect(html).toContain('1 approved template cannot be sent from here: needs an image header.');
    expect(html).toContain('data-testid="coex-template-preview">Bonjour Youssef, votre commande CMD-1042 est en route.</p>');
    expect(html).toContain('<span class="hs-label">Parameter 1<span class="hs-required">*</span></span><input class="hs-input" type="text" value="Youssef"');
    expect(html).toContain('<span class="hs-label">Parameter 2<span class="hs-required">*</span></span><input class="hs-input" type="text" value="CMD-1042"');
    expect(html).toMatch(/<button type="button" class="hs-button btn-primary size-md" data-testid="coex-send-template">Send template<\/button>/);
    expect(html).toMatch(/<summary>Soldes Ramadan: delivered<\/summary>/);
    expect(html).not.toContain('coex-opt-out');
    // Who holds the chat: Meta's AI agent, beside the bot state, with what a reply from here does.
    expect(html).toMatch(/data-testid="coex-control">Meta&#39;s AI agent is handling this chat<\/span>/);
    expect(html).toContain('A text reply sent from here takes it back once WhatsApp accepts it');
    expect(pages.conversation.html).not.toContain('coex-control');
  });

  it('escapes text and flags components it cannot map instead of dropping them', () => {
    const renderer = createRenderer('crm.record.tab');
    renderer.render(createElement(Flex, { direction: 'column' }, createElement(Tag, { variant: 'error', children: '<script>alert(1)</script>' }), createElement(Link, { href: 'https://example.com', children: 'docs' })));
    const page = renderPreviewPage(renderer.getRootNode(), { cardTitle: 'T', note: '' });
    expect(page.html).toContain('<span class="hs-tag tag-error">&lt;script&gt;alert(1)&lt;/script&gt;</span>');
    expect(page.unknownComponents).toEqual(['Link']);
    expect(page.html).toContain('&lt;Link&gt; (no preview mapping)</span>docs</div>');
  });

  it.skipIf(!writeScreenshot)('writes docs/screenshots/hubspot-card.png and hubspot-card-templates.png with headless Chromium', async () => {
    for (const name of Object.keys(SCREENSHOTS) as (keyof typeof SCREENSHOTS)[]) {
      const file = htmlFiles[name]!;
      const height = await pageHeight(file);
      await chromium(['--hide-scrollbars', `--window-size=${WIDTH},${height}`, `--screenshot=${SCREENSHOTS[name]}`, pathToFileURL(file).href]);
      const png = readFileSync(SCREENSHOTS[name]);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(WIDTH); // IHDR width
      expect(png.readUInt32BE(20)).toBe(height); // IHDR height: the whole card, nothing cut off
    }
  });
});
