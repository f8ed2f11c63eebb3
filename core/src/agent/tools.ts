import type { Kysely } from 'kysely';
import { WooCommerceConnector, type CrmConnector } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { createConnector, crmCredentialsSchema } from '../crm/registry.js';
import type { AgentTools } from './provider.js';

/**
 * The agent's tools over the tenant's connected shop and CRM. Order lookups are limited to the
 * customer's own phone (the thread's contact), whatever the model asks for.
 */
export function agentToolsFor(db: Kysely<Database>, cipher: TokenCipher, tenantId: string, threadId: string): AgentTools {
  const connectorOf = async (crm: 'woocommerce' | 'hubspot' | 'odoo' | 'zoho'): Promise<CrmConnector | null> => {
    const row = await db.selectFrom('crm_connections').select('credentials_enc').where('tenant_id', '=', tenantId).where('crm', '=', crm).where('status', '=', 'active').executeTakeFirst();
    if (!row) return null;
    return createConnector(crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(row.credentials_enc))));
  };
  const customerPhone = async (): Promise<string | null> => {
    const row = await db.selectFrom('threads').innerJoin('contacts', 'contacts.id', 'threads.contact_id').select('contacts.wa_id').where('threads.id', '=', threadId).where('threads.tenant_id', '=', tenantId).executeTakeFirst();
    return row?.wa_id ? `+${row.wa_id}` : null;
  };
  return {
    lookupOrder: async ({ orderId }) => {
      const shop = await connectorOf('woocommerce');
      if (!(shop instanceof WooCommerceConnector)) return { error: 'no shop is connected to CoEx for this business; offer to hand off to a person' };
      const phone = await customerPhone();
      if (!phone) return { error: 'the customer is known only by a WhatsApp username: orders cannot be matched' };
      const orders = await shop.customerOrders(phone, orderId !== undefined ? { orderId } : {});
      return orders.length > 0 ? { orders } : { orders: [], note: orderId ? `no order ${orderId} for this customer's phone` : 'no order found for this customer’s phone' };
    },
    upsertLead: async ({ name, note }) => {
      for (const crm of ['hubspot', 'zoho', 'odoo'] as const) {
        const c = await connectorOf(crm);
        const phone = await customerPhone();
        if (!c || !phone) continue;
        const ref = await c.findOrCreateContact(phone, name ?? null);
        return { crm, record: ref.id, object: ref.object, created: ref.created, ...(note ? { note: 'noted' } : {}) };
      }
      return { error: 'no CRM is connected to CoEx for this business' };
    },
  };
}
