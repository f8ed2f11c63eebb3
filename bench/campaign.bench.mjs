// Campaign pacing and restart safety: a 10,000-recipient marketing campaign against the Graph API
// fake. Prints (1) the achieved campaign rate against the allowed campaign rate (share × number rate,
// the baseline: ratio 1.00 = the whole lane used, nothing more), (2) what a live reply would wait
// (the number pacer's own reservation, p50/p99/max) while the campaign runs, against the bound of one
// send interval, and (3) duplicates after a runner process is killed with SIGKILL half-way and a new
// runner resumes (must be 0; "interrupted" = sends whose outcome the dead process never recorded,
// settled as failed, never resent).
// Speed: the number is given SCALE × 20 msg/s (and the fake SCALE × 20 + headroom) so 10,000 sends
// take about a minute and a half; every rate is printed with the scale factor, and the same ratios
// hold at 20 msg/s. The kill/resume needs a second process on the same database: PostgreSQL only.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { migrateToLatest, openDatabase } from '../core/dist/db/index.js';
import { DbPacer } from '../core/dist/outbound/pacer.js';
import { GraphClient } from '../core/dist/outbound/graph-client.js';
import { createLogger } from '../core/dist/logger.js';
import { CampaignRunner, createCampaign, createCampaignSender, startCampaign, DEFAULT_CAMPAIGN_SHARE } from '../core/dist/campaigns/index.js';
import { benchBackends, fmt } from './lib.mjs';

const RECIPIENTS = Number(process.env.BENCH_CAMPAIGN_RECIPIENTS ?? 10_000);
const SCALE = Number(process.env.BENCH_CAMPAIGN_SCALE ?? 10);
const NUMBER_RATE = 20 * SCALE;
const SAFETY = 0.95;
const ALLOWED = NUMBER_RATE * DEFAULT_CAMPAIGN_SHARE * SAFETY;
const INTERVAL_MS = 1000 / (NUMBER_RATE * SAFETY);
const CONCURRENCY = 16;
const TOKEN = 'test-access-token';

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function childMain([, , , databaseUrl, graphUrl]) {
  const handle = await openDatabase({ databaseUrl, poolSize: CONCURRENCY + 2 });
  const logger = createLogger('silent');
  const graph = new GraphClient({ baseUrl: graphUrl, version: 'v25.0', accessToken: TOKEN, userAgent: 'coex-bench' });
  const runner = new CampaignRunner({ db: handle.db, sender: createCampaignSender(handle.db, graph, logger), logger, concurrency: CONCURRENCY, pollIntervalMs: 100 });
  runner.start();
  process.stdout.write('started\n');
  await new Promise(() => undefined); // runs until killed
}

async function setup(handle, pnid) {
  await handle.db.insertInto('tenants').values({ id: 'bench', name: 'bench' }).onConflict((oc) => oc.doNothing()).execute();
  await handle.db
    .insertInto('whatsapp_numbers')
    .values({ phone_number_id: pnid, tenant_id: 'bench', waba_id: null, display_phone_number: null, verified_name: null, access_token_enc: null, connection_reason: null, connection_changed_at: null, last_echo_at: null, throughput_mps: NUMBER_RATE })
    .execute();
  const recipients = Array.from({ length: RECIPIENTS }, (_, i) => {
    const waId = `2126610${String(i).padStart(5, '0')}`;
    return { phone: `+${waId}`, waId, name: null, variables: [] };
  });
  const created = await createCampaign(handle.db, { tenantId: 'bench', phoneNumberId: pnid, name: 'bench', template: { name: 'hello_world', language: 'en_US', category: 'marketing' }, bodyParameters: null, source: 'api', sendAt: null, createdBy: null, recipients });
  await startCampaign(handle.db, null, created.id);
  return created.id;
}

async function counts(db, id) {
  const rows = await db.selectFrom('campaign_recipients').select(['status']).select((eb) => eb.fn.countAll().as('n')).where('campaign_id', '=', id).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function run() {
  const { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER } = await import('../test/fakes/graph-api.ts');
  const pnid = DEFAULT_FAKE_PHONE_NUMBER.id;
  console.log(`\n# Campaign (${fmt(RECIPIENTS)} recipients; number at ${NUMBER_RATE} msg/s = ${SCALE}× a Coexistence number's 20, campaign share ${DEFAULT_CAMPAIGN_SHARE})`);
  const backend = (await benchBackends()).find((b) => b.name === 'postgres');
  if (!backend) {
    console.log('PostgreSQL not reachable: the campaign benchmark needs it (a killed runner process and its successor share the database). Skipped.');
    return;
  }
  const graph = await startGraphApiFake({ mps: Math.ceil(NUMBER_RATE * 1.1) });
  const target = await backend.create();
  const handle = await openDatabase({ databaseUrl: target.databaseUrl, poolSize: 8 });
  const logger = createLogger('silent');
  try {
    await migrateToLatest(handle.db);
    const id = await setup(handle, pnid);

    // Phase 1: a runner in a child process; live replies probe the number's pacer meanwhile.
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', target.databaseUrl, graph.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve);
      child.once('exit', (code) => reject(new Error(`runner child exited early (${code})`)));
    });
    const started = Date.now();
    const pacer = new DbPacer(handle.db);
    const liveWaits = [];
    let liveTimer;
    const probe = async () => {
      // One live reply every 100 ms (10 msg/s of live traffic), as SendService reserves it.
      liveWaits.push(await pacer.reserve(pnid, { ratePerSecond: NUMBER_RATE }));
      liveTimer = setTimeout(probe, 100);
    };
    await probe();
    let sentAtKill = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      sentAtKill = graph.state.sent.length;
      if (sentAtKill >= RECIPIENTS / 2) break;
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    clearTimeout(liveTimer);
    const phase1Seconds = (Date.now() - started) / 1000;
    // Steady-state rate from the fake's clock: the middle 80 % of the sends before the kill.
    const times = graph.state.sent.map((s) => s.at).sort((a, b) => a - b);
    const lo = Math.floor(times.length * 0.1);
    const hi = Math.floor(times.length * 0.9);
    const achieved = (hi - lo) / ((times[hi] - times[lo]) / 1000);
    const afterKill = await counts(handle.db, id);

    // Phase 2: a new runner (the restarted process) settles the dead one's claims and finishes.
    const runner = new CampaignRunner({ db: handle.db, sender: createCampaignSender(handle.db, new GraphClient({ baseUrl: graph.url, version: 'v25.0', accessToken: TOKEN, userAgent: 'coex-bench' }), logger), logger, concurrency: CONCURRENCY, leaseMs: 0 });
    const recovered = await runner.recoverAbandoned(0);
    await runner.runUntilIdle();
    const final = await counts(handle.db, id);
    const perRecipient = new Map();
    for (const s of graph.state.sent) perRecipient.set(s.to, (perRecipient.get(s.to) ?? 0) + 1);
    const duplicates = [...perRecipient.values()].filter((n) => n > 1).length;
    const interrupted = await handle.db.selectFrom('campaign_recipients').select((eb) => eb.fn.countAll().as('n')).where('campaign_id', '=', id).where('error', 'like', 'interrupted%').executeTakeFirst();

    const sorted = [...liveWaits].sort((a, b) => a - b);
    console.log(`coex      campaign rate ${fmt(achieved, 1)} msg/s  ratio ${fmt(achieved / ALLOWED, 3)} of allowed ${fmt(ALLOWED, 1)} (= ${fmt(achieved / SCALE, 2)} msg/s at 20 msg/s scale)  ${fmt(sentAtKill)} sends in ${fmt(phase1Seconds, 1)} s before the kill`);
    console.log(`coex      live reply pacer wait while the campaign runs (${liveWaits.length} replies): p50 ${fmt(pct(sorted, 50), 2)} ms  p99 ${fmt(pct(sorted, 99), 2)} ms  max ${fmt(sorted.at(-1) ?? 0, 2)} ms  bound = one interval ${fmt(INTERVAL_MS, 2)} ms (${fmt(INTERVAL_MS * SCALE, 1)} ms at 20 msg/s)`);
    console.log(`coex      SIGKILL at ${fmt(sentAtKill)} sent: ${JSON.stringify(afterKill)}; resume settled ${JSON.stringify(recovered)}; final ${JSON.stringify(final)}`);
    console.log(`coex      Graph fake received ${fmt(graph.state.sent.length)} sends for ${fmt(perRecipient.size)} recipients: duplicates ${duplicates} (must be 0), interrupted (outcome unknown, not resent) ${Number(interrupted?.n ?? 0)}, 130429 rejections ${graph.state.rejections.throughput[pnid] ?? 0}`);
  } finally {
    await handle.close();
    await target.drop();
    await graph.close();
  }
}

if (process.argv[2] === '--child') await childMain(process.argv);
else if (import.meta.url === `file://${process.argv[1]}`) await run();
