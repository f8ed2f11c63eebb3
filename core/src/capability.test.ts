import express from 'express';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { hooksInOrder, routersInOrder, type AppliedStage, type Capability } from './capability.js';
import type { Database } from './db/schema.js';
import { emptyOutcome } from './store/apply.js';

/** A capability whose hooks note "<name>:<stage>" in `ran` when called. */
function withHooks(name: string, stages: AppliedStage[], ran: string[]): Capability {
  return { name, onApplied: stages.map((stage) => ({ stage, hook: () => void ran.push(`${name}:${stage}`) })) };
}

async function runAll(capabilities: Capability[]): Promise<void> {
  const trx = {} as Kysely<Database>; // the hooks above never touch it
  for (const hook of hooksInOrder(capabilities)) await hook(emptyOutcome(), trx);
}

describe('hooksInOrder', () => {
  it('runs consent hooks before observe hooks before follow-ups, whatever the list order', async () => {
    const ran: string[] = [];
    // The agent is listed first on purpose: its follow-up must still come after the campaigns' consent hooks.
    await runAll([withHooks('agent', ['follow-up'], ran), withHooks('ingestion', ['observe'], ran), withHooks('campaigns', ['consent', 'consent'], ran)]);
    expect(ran).toEqual(['campaigns:consent', 'campaigns:consent', 'ingestion:observe', 'agent:follow-up']);
  });

  it('keeps the list order within a stage', async () => {
    const ran: string[] = [];
    await runAll([withHooks('transcription', ['follow-up'], ran), withHooks('crm', ['follow-up'], ran), withHooks('agent', ['follow-up'], ran), { name: 'extension' }]);
    expect(ran).toEqual(['transcription:follow-up', 'crm:follow-up', 'agent:follow-up']);
  });
});

describe('routersInOrder', () => {
  it('mounts every raw-body router first and every fallback last, whatever the list order', () => {
    const r = { api: express.Router(), console: express.Router(), campaigns: express.Router(), extension: express.Router(), oauthNotConfigured: express.Router(), webhooks: express.Router() };
    const nameOf = (router: express.Router): string | undefined => Object.entries(r).find(([, v]) => v === router)?.[0];
    const routers = routersInOrder([{ fallback: [r.api], routes: [r.console] }, { routes: [r.campaigns] }, { rawBody: [r.extension], fallback: [r.oauthNotConfigured] }, {}, { rawBody: [r.webhooks] }]);
    expect(routers.map(nameOf)).toEqual(['extension', 'webhooks', 'console', 'campaigns', 'api', 'oauthNotConfigured']);
  });
});
