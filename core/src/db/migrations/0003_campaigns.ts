import type { Kysely } from 'kysely';

/** Template campaigns (issue 8). Filled in by the campaigns work; empty until then. */
export async function up(_db: Kysely<unknown>): Promise<void> {}

export async function down(_db: Kysely<unknown>): Promise<void> {}
