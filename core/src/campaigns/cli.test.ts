import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../db/index.js';
import { registerCampaignCommands, type CampaignCliIo, type WithDatabase } from './cli.js';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/backends.js';

const CSV = ['phone,name,var1', '0612345678,Amina,A10', '+212 6 12 34 56 79,Youssef,Y20', '06 12 34 56 78,Amina again,A11', '12,Broken,B1'].join('\n');

describe('coex campaign (CLI wiring over the store)', () => {
  let handle: DatabaseHandle;
  let database: TestDatabase;
  const out: string[] = [];
  const err: string[] = [];
  const io: CampaignCliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readFile: async (path) => {
      if (path !== 'list.csv') throw new Error('ENOENT');
      return CSV;
    },
  };
  const withDatabase: WithDatabase = (fn) => fn(handle.db);

  async function run(...args: string[]): Promise<void> {
    const program = new Command().exitOverride();
    registerCampaignCommands(program, withDatabase, io);
    out.length = 0;
    err.length = 0;
    await program.parseAsync(['campaign', ...args], { from: 'user' });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ databaseUrl: database.databaseUrl });
    await migrateToLatest(handle.db);
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
    await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: '1100', tenant_id: 'atlas' }).execute();
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });

  it('creates from a CSV (reporting invalid and duplicate rows), then starts, pauses, lists and reports', async () => {
    await run('create', '--tenant', 'atlas', '--number', '1100', '--name', 'Spring', '--template', 'spring_sale', '--language', 'fr', '--csv', 'list.csv', '--body-param', 'Salam {{name}}', '{{var1}}');
    const id = /^campaign ([0-9a-f-]{36}) draft: 2 recipients \(1 invalid, 1 duplicates skipped\)$/.exec(out[0] ?? '')?.[1];
    expect(id, out.join('\n')).toBeDefined();
    expect(err).toEqual(['line 5: not a valid phone number (read with default country MA) (12)', 'line 4: duplicate of line 2 (06 12 34 56 78)']);
    const row = await handle.db.selectFrom('campaigns').selectAll().where('id', '=', id!).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ tenant_id: 'atlas', template_name: 'spring_sale', category: 'marketing', source: 'csv', created_by: 'cli' });
    expect(row.body_parameters).toEqual(['Salam {{name}}', '{{var1}}']);
    const recipients = await handle.db.selectFrom('campaign_recipients').select(['wa_id', 'name']).where('campaign_id', '=', id!).orderBy('wa_id').execute();
    expect(recipients).toEqual([{ wa_id: '212612345678', name: 'Amina' }, { wa_id: '212612345679', name: 'Youssef' }]);

    await run('start', id!);
    expect(out).toEqual([`campaign ${id} running`]);
    await run('pause', id!, '--reason', 'stock ran out');
    expect(out).toEqual([`campaign ${id} paused`]);
    await run('list', '--tenant', 'atlas');
    expect(out).toHaveLength(1);
    expect(out[0]?.split('\t').slice(0, 4)).toEqual([id, 'paused', '2', 'spring_sale']);
    await run('report', id!);
    expect(out[0]).toBe(`Spring (${id}) paused — stock ran out`);
    expect(out[2]).toContain('total 2  queued 2');
    await run('report', id!, '--json');
    expect(JSON.parse(out.join('\n'))).toMatchObject({ id, counts: { total: 2, queued: 2 } });
  });

  it('turns user mistakes into one-line ConfigErrors', async () => {
    const base = ['create', '--tenant', 'atlas', '--number', '1100', '--name', 'X', '--template', 't', '--language', 'fr'];
    await expect(run(...base, '--csv', 'missing.csv')).rejects.toThrow(ConfigError);
    await expect(run(...base, '--csv', 'list.csv', '--number', '9999')).rejects.toThrow(/number 9999 not found/);
    await expect(run(...base, '--csv', 'list.csv', '--send-at', 'tomorrow')).rejects.toThrow(/--sendAt/);
    await expect(run('start', '00000000-0000-0000-0000-000000000000')).rejects.toThrow(/campaign not found/);
    await expect(run('report', '00000000-0000-0000-0000-000000000000', '--tenant', 'other')).rejects.toThrow(/not found/);
    await expect(run('list', '--limit', '0')).rejects.toThrow(/--limit/);
  });
});
