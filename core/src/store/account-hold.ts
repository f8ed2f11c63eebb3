import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { templatesHeldUntil, templatesHold, type TenantScope } from './queries.js';

/** What `liftTemplatesHold` found: the number unknown (or another tenant's), nothing held, or the hold lifted. */
export type LiftOutcome = { kind: 'not_found' } | { kind: 'nothing_held' } | { kind: 'lifted'; until: string | null };

/**
 * Lifts Meta's hold on a number's business-initiated messaging by hand: Meta can end a restriction
 * early (an appeal accepted) without a webhook, and until then CoEx would hold the business's
 * templates and campaigns to the end Meta first gave. Clears the hold and the warning that
 * described it, and records who did it in the account history (`HOLD_LIFTED`, `resumed_sending`);
 * the campaigns it paused resume with the runner's next pass. Should Meta still restrict the number,
 * it refuses the next template itself, and that campaign pauses again with Meta's error.
 */
export async function liftTemplatesHold(db: Kysely<Database>, scope: TenantScope, phoneNumberId: string, actor: string | null): Promise<LiftOutcome> {
  return db.transaction().execute(async (trx) => {
    let q = trx
      .selectFrom('whatsapp_numbers')
      .select(['phone_number_id', 'waba_id', templatesHeldUntil])
      .where('phone_number_id', '=', phoneNumberId)
      .forNoKeyUpdate();
    if (scope !== null) q = q.where('tenant_id', '=', scope);
    const n = await q.executeTakeFirst();
    if (!n) return { kind: 'not_found' } as const;
    // Read as the account state reads it, so that a hold the state shows is one that can be lifted.
    const hold = templatesHold(n.templates_held_until, new Date());
    if (!hold) return { kind: 'nothing_held' } as const;
    await trx
      .updateTable('whatsapp_numbers')
      .set({ business_initiated_blocked_until: null, account_warning: null, account_warning_at: null, updated_at: sql`now()` })
      .where('phone_number_id', '=', phoneNumberId)
      .execute();
    await trx
      .insertInto('account_events')
      .values({
        waba_id: n.waba_id ?? '',
        phone_number_id: phoneNumberId,
        event: 'HOLD_LIFTED',
        reason: null,
        initiated_by: actor,
        payload: JSON.stringify({ lifted_by: actor, until: hold.until }),
        effect: 'resumed_sending',
        detail: `business-initiated messaging hold lifted by hand (${hold.until ? `Meta's end was ${hold.until}` : 'Meta gave no end'})`,
      })
      .execute();
    return { kind: 'lifted', until: hold.until } as const;
  });
}
