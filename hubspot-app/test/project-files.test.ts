import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { COEX_SERVER_URL } from '../src/app/cards/lib/config.js';
import { normalizeServerUrl } from '../src/app/cards/lib/requests.js';

// The HubSpot project files agree with each other and with the card's code.

describe('HubSpot project files', () => {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const json = (path: string): unknown => JSON.parse(readFileSync(root + path, 'utf8'));

  const project = z.object({ name: z.string().min(1), srcDir: z.literal('src'), platformVersion: z.literal('2026.09') });
  const app = z.object({
    uid: z.string().min(1),
    type: z.literal('app'),
    config: z.object({
      name: z.string().min(1),
      distribution: z.literal('marketplace'),
      auth: z.object({ type: z.literal('oauth'), redirectUrls: z.array(z.url({ protocol: /^https$/ })).min(1), requiredScopes: z.array(z.string()).min(1), optionalScopes: z.array(z.string()) }),
      permittedUrls: z.object({ fetch: z.array(z.url({ protocol: /^https$/ })).min(1) }),
    }),
  });
  const card = z.object({
    uid: z.string().min(1),
    type: z.literal('card'),
    config: z.object({ name: z.string().min(1), location: z.literal('crm.record.tab'), entrypoint: z.string().startsWith('/app/cards/'), objectTypes: z.array(z.string()) }),
  });

  it('declares a 2026.09 project with a marketplace OAuth app', () => {
    expect(project.parse(json('hsproject.json')).platformVersion).toBe('2026.09');
    const a = app.parse(json('src/app/app-hsmeta.json'));
    // The card reads contact phones and deal/ticket associations.
    expect(a.config.auth.requiredScopes).toEqual(expect.arrayContaining(['crm.objects.contacts.read', 'crm.objects.deals.read']));
  });

  it('lets hubspot.fetch reach the server the card calls', () => {
    const a = app.parse(json('src/app/app-hsmeta.json'));
    expect(a.config.permittedUrls.fetch.map((u) => normalizeServerUrl(u))).toContain(normalizeServerUrl(COEX_SERVER_URL));
  });

  it('points the card at an entry that exists, on contacts, deals and tickets', () => {
    const c = card.parse(json('src/app/cards/coex-thread-hsmeta.json'));
    expect(c.config.objectTypes).toEqual(['contacts', 'deals', 'tickets']);
    const entry = root + 'src' + c.config.entrypoint;
    expect(existsSync(entry)).toBe(true);
    expect(readFileSync(entry, 'utf8')).toContain('hubspot.extend');
  });

  it('gives HubSpot\'s build the same dependency versions the tests run with', () => {
    // The workspace only tests and typechecks (devDependencies); HubSpot builds the card from
    // src/app/cards/package.json.
    const cards = z.object({ dependencies: z.record(z.string(), z.string()) }).parse(json('src/app/cards/package.json')).dependencies;
    const workspace = z.object({ devDependencies: z.record(z.string(), z.string()) }).parse(json('package.json')).devDependencies;
    expect(Object.keys(cards).sort()).toEqual(['@hubspot/ui-extensions', 'react', 'zod']);
    for (const [name, version] of Object.entries(cards)) expect(workspace[name], name).toBe(version);
  });
});
