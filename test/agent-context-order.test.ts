import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { orchestratorWith } from './helpers/agent.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { envelopeSchema } from '../core/src/whatsapp/schemas.js';
import { normalizeDelivery } from '../core/src/whatsapp/normalize.js';
import { applyEvents } from '../core/src/store/apply.js';
import type { AgentProvider, AgentTurnInput } from '../core/src/agent/provider.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };

/** A model that keeps what it was asked. */
class RecordingModel implements AgentProvider {
  readonly name = 'recording-fake-model';
  inputs: AgentTurnInput[] = [];
  async decide(input: AgentTurnInput) {
    this.inputs.push(input);
    return { kind: 'reply' as const, text: 'Iyeh, kayna.', toolCalls: [] };
  }
}

/**
 * The agent's context lists the conversation in the order it happened, also within one second (Meta's
 * timestamps are whole seconds, and a customer who types fast sends several messages in one): ordered
 * by time alone, they reached the model in whatever order the database read them.
 */
describe.each(backends())('agent context order [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;

  beforeAll(async () => {
    graph = await startGraphApiFake({});
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, COEX_AGENT: 'off' }, { worker: false });
  });
  afterAll(async () => {
    await s?.close();
    await graph?.close();
  });

  it('answers the last message of a burst within one second, and gives the model the burst in the order it arrived', async () => {
    const db = s.runtime.db;
    const texts = ['salam', 'wach kayn', 'l9ftan', 'f taille M', 'ola L', 'l7mer', 'b 250 dh?', 'w livraison', 'l Rabat', 'chhal?'];
    const at = Date.now();
    const delivery = P.inboundMessage(N, { waId: '212612000777' }, 'wamid.CTX-0', at, P.text(texts[0]!));
    const value = delivery.entry[0]!.changes[0]!.value as { messages: Array<Record<string, unknown>> };
    for (let i = 1; i < texts.length; i++) value.messages.push({ ...value.messages[0]!, id: `wamid.CTX-${i}`, text: { body: texts[i] } });
    const model = new RecordingModel();
    const agent = orchestratorWith(s, model);
    const envelope = envelopeSchema.parse(delivery);
    await db.transaction().execute(async (trx) => {
      const outcome = await applyEvents(trx, normalizeDelivery(envelope, N.phoneNumberId), { defaultTenantId: 'default' });
      await agent.onLiveMessages(outcome.live, trx);
    });
    const turn = await db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select('agent_turns.id').where('messages.wamid', '=', `wamid.CTX-${texts.length - 1}`).executeTakeFirstOrThrow();
    // The last message of the burst is the one answered (the others' turns are skipped as older).
    expect((await agent.runTurn(turn.id)).status).toBe('sent');
    expect(model.inputs).toHaveLength(1);
    expect(model.inputs[0]!.latest.text).toBe(texts.at(-1));
    expect(model.inputs[0]!.history.map((h) => h.text)).toEqual(texts);
  });
});
