import { sql, type Kysely } from 'kysely';

/**
 * Extension API authentication (core/src/api/extension-auth.ts): the nonces (and HubSpot v3
 * signatures) already accepted, kept until their timestamp leaves the 5-minute window, and the
 * install key of a CRM account encrypted at rest (an HMAC is verified with the key, not its hash).
 */
const statements = [
  `create table extension_nonces (
    crm text not null,
    account text not null,
    nonce text not null,
    expires_at timestamptz not null,
    primary key (crm, account, nonce)
  )`,
  `create index extension_nonces_expiry on extension_nonces (expires_at)`,
  `alter table crm_connections add column extension_key_enc text`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const s of ['alter table crm_connections drop column if exists extension_key_enc', 'drop table if exists extension_nonces']) {
    await sql.raw(s).execute(db);
  }
}
