/*
 * A static PREVIEW of the CoEx card for docs: CoexCard rendered with HubSpot's testing renderer
 * (createRenderer, mocked CRM hooks) against the stub extension API through the hubspot.fetch
 * emulation, then converted to HTML by preview-html.ts (an approximation of HubSpot's UI
 * components; HubSpot's own renderer only runs inside HubSpot). The HTML goes to a temp dir.
 * With COEX_WRITE_SCREENSHOTS=1 and /usr/bin/chromium present it is also screenshotted into
 * docs/screenshots/hubspot-card.png; otherwise no tracked file is written.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createElement } from 'react';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flex, Link, Tag, TableRow, TextArea } from '@hubspot/ui-extensions';
import type { CrmContext, TextAreaProps } from '@hubspot/ui-extensions';
import { createRenderer, type RenderedElementNode } from '@hubspot/ui-extensions/testing';
import { CoexCard } from '../src/app/cards/CoexCard.js';
import { emulateHubSpotFetch, startCoexExtApiStub, type CoexExtApiStub, type StubThread } from './coex-ext-api-stub.js';
import { msg } from './fixtures.js';
import { PREVIEW_LABEL, renderPreviewPage, type PreviewPage } from './preview-html.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../docs/screenshots/hubspot-card.png', import.meta.url));
const writeScreenshot = process.env.COEX_WRITE_SCREENSHOTS === '1' && existsSync(CHROMIUM);
const WAIT = { timeoutInMs: 5_000 };
const PHONE = '+212612345678';
const NOW = new Date('2026-11-25T12:00:00.000Z');
const DRAFT = 'Chokran Salma, ghadi nsiftouh lik lyoum.';

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

function chromium(args: string[]): Promise<void> {
  const profile = mkdtempSync(join(tmpdir(), 'coex-chromium-'));
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage', `--user-data-dir=${profile}`];
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, [...flags, ...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true });
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

let stub: CoexExtApiStub;
let preview: PreviewPage;
let outDir: string;
let htmlFile: string;

beforeAll(async () => {
  stub = await startCoexExtApiStub({ threads: { [PHONE]: demoThread() }, sync: { history: { status: 'in_progress', progress: 64 }, contacts: { status: 'receiving' } } });
  const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
  const renderer = createRenderer('crm.record.tab');
  renderer.mocks.useCrmProperties.willCall((names) => ({
    properties: Object.fromEntries(names.map((n) => [n, n === 'hs_whatsapp_phone_number' ? '+212 612 345 678' : null])),
    error: null,
    isLoading: false,
    isRefetching: false,
    refetch: async () => {},
  }));
  const base = renderer.mocks.context as CrmContext;
  const context: CrmContext = { ...base, crm: { objectId: 42, objectTypeId: '0-1' }, portal: { ...base.portal, timezone: 'Africa/Casablanca' } };
  // The history import keeps the card polling; a long interval keeps this snapshot still.
  renderer.render(createElement(CoexCard, { context, fetcher: hs.fetch, serverUrl: stub.url, now: () => NOW, refreshWhileBusyMs: 10 * 60_000 }));
  await renderer.waitFor(() => expect(renderer.findByTestId(TableRow, 'coex-message-c3')).toBeTruthy(), WAIT);
  // An agent halfway through a reply: shows the composer with its Send button enabled.
  const reply = renderer.findByTestId(TextArea, 'coex-reply-text') as RenderedElementNode<TextAreaProps>;
  reply.trigger('onInput', DRAFT as never);
  await renderer.waitFor(() => expect(renderer.findByTestId(TextArea, 'coex-reply-text').props.value).toBe(DRAFT), WAIT);

  preview = renderPreviewPage(renderer.getRootNode(), {
    cardTitle: 'WhatsApp (CoEx)',
    note: 'Approximate styles, not HubSpot\'s renderer. CoexCard rendered with @hubspot/ui-extensions/testing against a stub CoEx extension API, demo data.',
  });
  renderer.render(null); // unmount: stops the card's refresh timer
  outDir = mkdtempSync(join(tmpdir(), 'coex-hubspot-preview-'));
  htmlFile = join(outDir, 'hubspot-card.html');
  writeFileSync(htmlFile, preview.html);
});

afterAll(async () => {
  await stub?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('HubSpot card preview (static HTML of the createRenderer tree)', () => {
  it('maps every component the card uses and labels the page as a preview', () => {
    expect(preview.unknownComponents).toEqual([]);
    expect(preview.html).toContain(PREVIEW_LABEL);
    expect(preview.html).not.toContain('hs-unknown"');
  });

  it('shows origin badges, the transcript, the bot state with its causes and the history sync', () => {
    const { html } = preview;
    const row = (id: string) => new RegExp(`<tr data-testid="coex-message-${id}">(.*?)</tr>`).exec(html)?.[1] ?? '';
    const tags = (fragment: string) => [...fragment.matchAll(/<span class="hs-tag tag-([a-z]+)">([^<]*)<\/span>/g)].map((m) => `${m[2]}:${m[1]}`);

    expect(tags(row('h1'))).toEqual(['In:default', 'History:default']);
    expect(tags(row('c1'))).toEqual(['In:default', 'Customer:default']);
    expect(tags(row('a1'))).toEqual(['Out:info', 'AI agent:success']);
    expect(tags(row('p1'))).toEqual(['Out:info', 'Phone app:info']);
    expect(tags(row('api1'))).toEqual(['Out:info', 'API:warning']);
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

  it('escapes text and flags components it cannot map instead of dropping them', () => {
    const renderer = createRenderer('crm.record.tab');
    renderer.render(createElement(Flex, { direction: 'column' }, createElement(Tag, { variant: 'error', children: '<script>alert(1)</script>' }), createElement(Link, { href: 'https://example.com', children: 'docs' })));
    const page = renderPreviewPage(renderer.getRootNode(), { cardTitle: 'T', note: '' });
    expect(page.html).toContain('<span class="hs-tag tag-error">&lt;script&gt;alert(1)&lt;/script&gt;</span>');
    expect(page.unknownComponents).toEqual(['Link']);
    expect(page.html).toContain('&lt;Link&gt; (no preview mapping)</span>docs</div>');
  });

  it.skipIf(!writeScreenshot)('writes docs/screenshots/hubspot-card.png with headless Chromium', async () => {
    await chromium(['--hide-scrollbars', '--window-size=900,1100', `--screenshot=${SCREENSHOT}`, pathToFileURL(htmlFile).href]);
    const png = readFileSync(SCREENSHOT);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(900); // IHDR width
  });
});
