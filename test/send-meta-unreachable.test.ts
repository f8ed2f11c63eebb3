import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';

const N: P.NumberRef = { wabaId: '440001', phoneNumberId: '330001', displayPhoneNumber: '+212 522-330001' };

describe.each(backends().slice(0, 1))('a reply while Meta is unreachable [%s]', (backend) => {
  let s: TestServer;
  const lines: Array<{ msg: string; reason?: string; retry?: string }> = [];

  beforeAll(async () => {
    // A port nothing listens on: every Graph call fails at once with ECONNREFUSED.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: `http://127.0.0.1:${port}`, WHATSAPP_ACCESS_TOKEN: 'token-for-an-unreachable-meta', COEX_AGENT: 'off' }, { logger: pino({ level: 'warn' }, sink) });
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345699', name: 'Amina' }, 'wamid.UNR-1', Date.now() - 60_000, P.text('salam')));
    await s.runtime.waitForInboxDrained();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers at once with retry_scheduled after one quick retry, and the log line says why', async () => {
    const { threads } = (await (await s.api('/api/v1/threads?wa_id=212612345699')).json()) as { threads: Array<{ id: string }> };
    const res = await s.api(`/api/v1/threads/${threads[0]!.id}/messages`, { method: 'POST', body: JSON.stringify({ text: 'rah wslat' }) });
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: { id: string; status: string } };
    expect(message.status).toBe('retry_scheduled');
    const row = await s.runtime.db.selectFrom('messages').select(['send_attempts', 'error']).where('id', '=', message.id).executeTakeFirstOrThrow();
    // Two attempts in the request (not five), the rest left to the retry job.
    expect(row.send_attempts).toBe(2);
    expect(JSON.stringify(row.error)).toContain('ECONNREFUSED');
    const failures = lines.filter((l) => l.msg.startsWith('send failed'));
    expect(failures.map((l) => l.retry)).toEqual(['now', 'deferred']);
    expect(failures[0]!.reason).toContain('ECONNREFUSED');
    expect(failures[0]!.msg).toContain('ECONNREFUSED');
  });
});
