import { requestJson, type FetchLike } from '@coex/connectors';
import { z } from 'zod';
import type { RecipientInput } from './recipients.js';

/**
 * CRM segments as campaign recipients. A SegmentSource lists the members of a segment once, when
 * the campaign is created (a snapshot: the campaign's audience does not move while it runs).
 */
export interface SegmentSource {
  /** e.g. "hubspot contact search (2 filter groups)": shown in the campaign's import report. */
  readonly description: string;
  /** Members as recipient inputs (phone in any spelling; normalized like CSV rows). */
  members(): Promise<RecipientInput[]>;
}

// HubSpot CRM search (POST /crm/v3/objects/contacts/search) -------------------------------------

export const hubspotFilterSchema = z.object({
  propertyName: z.string().min(1).max(100),
  operator: z.enum(['EQ', 'NEQ', 'LT', 'LTE', 'GT', 'GTE', 'BETWEEN', 'IN', 'NOT_IN', 'HAS_PROPERTY', 'NOT_HAS_PROPERTY', 'CONTAINS_TOKEN', 'NOT_CONTAINS_TOKEN']),
  value: z.string().max(500).optional(),
  highValue: z.string().max(500).optional(),
  values: z.array(z.string().max(500)).max(100).optional(),
});
/** HubSpot allows 5 OR-ed groups of at most 6 AND-ed filters (18 in all); it answers 400 beyond. */
export const hubspotFilterGroupsSchema = z
  .array(z.object({ filters: z.array(hubspotFilterSchema).min(1).max(6) }))
  .min(1)
  .max(5)
  .refine((groups) => groups.reduce((n, g) => n + g.filters.length, 0) <= 18, { message: 'HubSpot allows at most 18 filters in all' });
export type HubSpotFilterGroups = z.infer<typeof hubspotFilterGroupsSchema>;

const searchPageSchema = z.looseObject({
  total: z.number().optional(),
  results: z.array(z.looseObject({ id: z.string(), properties: z.record(z.string(), z.string().nullable().optional()) })),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});

export interface HubSpotSegmentOptions {
  accessToken?: string;
  tokenProvider?: () => Promise<string>;
  /** Default https://api.hubapi.com; tests point it at the emulator. */
  basePath?: string;
  filterGroups: HubSpotFilterGroups;
  /** Contact properties that become var1..varN, in order (e.g. ["city", "coupon_code"]). */
  variableProperties?: string[];
  /** Phone properties tried in order. */
  phoneProperties?: string[];
  /** Stop after this many contacts. HubSpot's search returns at most 10 000 results per query. */
  maxContacts?: number;
  fetch?: FetchLike;
}

const PAGE_SIZE = 100;
const HUBSPOT_SEARCH_CAP = 10_000;

/** Contacts matching a HubSpot CRM search (e.g. lifecyclestage = customer, or a custom "segment" property). */
export class HubSpotSegmentSource implements SegmentSource {
  readonly description: string;
  constructor(private readonly options: HubSpotSegmentOptions) {
    if (!options.accessToken && !options.tokenProvider) throw new Error('HubSpotSegmentSource needs accessToken or tokenProvider');
    hubspotFilterGroupsSchema.parse(options.filterGroups);
    this.description = `hubspot contact search (${options.filterGroups.length} filter group${options.filterGroups.length === 1 ? '' : 's'})`;
  }

  async members(): Promise<RecipientInput[]> {
    const o = this.options;
    const phoneProps = o.phoneProperties ?? ['hs_whatsapp_phone_number', 'mobilephone', 'phone'];
    const varProps = o.variableProperties ?? [];
    const properties = [...new Set(['firstname', 'lastname', ...phoneProps, ...varProps])];
    const max = Math.min(o.maxContacts ?? HUBSPOT_SEARCH_CAP, HUBSPOT_SEARCH_CAP);
    const out: RecipientInput[] = [];
    let after: string | undefined;
    do {
      const token = o.accessToken ?? (await o.tokenProvider!());
      const page = await requestJson(
        'hubspot',
        `${(o.basePath ?? 'https://api.hubapi.com').replace(/\/$/, '')}/crm/v3/objects/contacts/search`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
          body: { filterGroups: o.filterGroups, properties, limit: PAGE_SIZE, ...(after ? { after } : {}) },
          schema: searchPageSchema,
        },
        o.fetch,
      );
      for (const c of page.data?.results ?? []) {
        const phone = phoneProps.map((p) => c.properties[p]).find((v): v is string => typeof v === 'string' && v.trim() !== '');
        // Contacts without a phone are kept so the import report lists them as invalid.
        out.push({
          phone: phone ?? '',
          name: c.properties.firstname ?? c.properties.lastname ?? null,
          variables: varProps.map((p) => c.properties[p] ?? ''),
        });
        if (out.length >= max) return out;
      }
      after = page.data?.paging?.next?.after;
    } while (after);
    return out;
  }
}
