// Agent overhead per inbound message, excluding the model: a fake model that answers instantly, so
// what is measured is CoEx's own work per turn (re-reading the thread, language detection, context,
// the compare-and-set claim, the send through the pacer and the Graph API fake). Baseline in the same
// run: the bare send path (SendService.send of the same text) — the part any reply must pay.
import { Runtime } from '../core/dist/runtime.js';
import { loadConfig } from '../core/dist/config.js';
import { createLogger } from '../core/dist/logger.js';
import { AgentOrchestrator } from '../core/dist/agent/orchestrator.js';
import { applyEvents } from '../core/dist/store/apply.js';
import { normalizeDelivery } from '../core/dist/whatsapp/normalize.js';
import { envelopeSchema } from '../core/dist/whatsapp/schemas.js';
import * as P from '../core/dist/whatsapp/payloads.js';
import { benchBackends, fmt } from './lib.mjs';

const TURNS = Number(process.env.BENCH_AGENT_TURNS ?? 300);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export async function run() {
  const { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER } = await import('../test/fakes/graph-api.ts');
  const N = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
  console.log(`\n# Agent overhead per inbound message (${TURNS} turns, instant fake model)`);
  for (const backend of await benchBackends()) {
    const graph = await startGraphApiFake({ mps: 1_000_000 });
    const target = await backend.create();
    const config = loadConfig({}, { PORT: 0, DATABASE_URL: target.databaseUrl, WHATSAPP_APP_SECRET: 'x', WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, GRAPH_API_BASE_URL: graph.url, COEX_API_TOKEN: 'bench-admin-token-000000', COEX_AGENT: 'off', LOG_LEVEL: 'silent' });
    const runtime = await Runtime.create({ config, logger: createLogger('silent'), ephemeral: true, worker: false, http: false });
    const db = runtime.db;
    const agent = new AgentOrchestrator({
      db,
      sender: runtime.sender,
      logger: createLogger('silent'),
      providerFor: () => ({ name: 'instant', decide: async () => ({ kind: 'reply', text: 'Iyeh, kayna.', toolCalls: [] }) }),
      toolsFor: () => ({ lookupOrder: async () => ({}), upsertLead: async () => ({}) }),
      enqueueTurn: async () => undefined,
    });
    const apply = (payload) => db.transaction().execute((trx) => applyEvents(trx, normalizeDelivery(envelopeSchema.parse(payload), N.phoneNumberId), { defaultTenantId: 'default' }));
    await apply(P.inboundMessage(N, { waId: '212600000001' }, 'wamid.seed', Date.now(), P.text('salam')));
    await db.updateTable('whatsapp_numbers').set({ throughput_mps: 1_000_000 }).execute();
    const turns = [];
    const sends = [];
    for (let i = 0; i < TURNS; i++) {
      const waId = `2126100${String(i).padStart(5, '0')}`;
      const payload = envelopeSchema.parse(P.inboundMessage(N, { waId }, `wamid.AB-${i}`, Date.now(), P.text('wach kayn livraison l marrakech?')));
      const turnId = await db.transaction().execute(async (trx) => {
        const outcome = await applyEvents(trx, normalizeDelivery(payload, N.phoneNumberId), { defaultTenantId: 'default' });
        await agent.onLiveMessages(outcome.live, trx);
        return (await trx.selectFrom('agent_turns').select('id').where('trigger_message_id', '=', outcome.live[0].messageId).executeTakeFirstOrThrow()).id;
      });
      let t = process.hrtime.bigint();
      const r = await agent.runTurn(turnId);
      turns.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.status !== 'sent') throw new Error(`turn ${i} ${r.status}`);
      const thread = await db.selectFrom('threads').innerJoin('contacts', 'contacts.id', 'threads.contact_id').select('threads.id').where('contacts.wa_id', '=', waId).executeTakeFirstOrThrow();
      t = process.hrtime.bigint();
      await runtime.sender.send({ threadId: thread.id, tenantId: 'default', origin: 'api', actor: 'bench', message: { type: 'text', body: 'Iyeh, kayna.' } });
      sends.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    await runtime.close();
    await target.drop();
    await graph.close();
    const [t50, t99, s50, s99] = [pct(turns, 50), pct(turns, 99), pct(sends, 50), pct(sends, 99)];
    console.log(`baseline  ${backend.name.padEnd(8)} bare send path        p50 ${fmt(s50, 2)} ms  p99 ${fmt(s99, 2)} ms`);
    console.log(`coex      ${backend.name.padEnd(8)} agent turn (no model)  p50 ${fmt(t50, 2)} ms  p99 ${fmt(t99, 2)} ms  ratio p50 ${fmt(t50 / s50, 2)}, p99 ${fmt(t99 / s99, 2)} of the bare send`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
