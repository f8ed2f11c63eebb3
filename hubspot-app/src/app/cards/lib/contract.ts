import { z } from 'zod';

/*
 * The CoEx extension API as the card sees it (docs/extension-api.md: GET /ext/v1/hubspot/thread,
 * POST …/bot, POST …/messages, GET …/templates, GET …/campaigns). Every response is parsed here before the UI touches it. Free-form fields that the
 * server may grow (message type, status, bot causes, sync statuses) stay strings so a new value
 * degrades to a neutral label instead of breaking the card; the enums the UI branches on are strict.
 */

const isoTimestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected an ISO timestamp' });
const id = z.union([z.string().min(1), z.number().int()]).transform(String);

export const botStateSchema = z.enum(['active', 'paused', 'handoff_requested', 'off']);
export type BotState = z.infer<typeof botStateSchema>;

export const botEventSchema = z.object({
  from: z.string().nullable(),
  to: z.string(),
  cause: z.string().nullable(),
  actor: z.string().nullable().optional().transform((v) => v ?? null),
  at: isoTimestamp,
});
export type BotEvent = z.infer<typeof botEventSchema>;

export const botSchema = z.object({
  state: botStateSchema,
  paused_until: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  history: z.array(botEventSchema).optional().transform((v) => v ?? []),
});
export type Bot = z.infer<typeof botSchema>;

/**
 * Who answers the customer under Meta's Conversation Routing: `coex`, `meta_agent` or `other_app`.
 * Free-form (a new holder must not break the card: ui-shared's controlView reads any non-`coex`
 * holder as another app); `since` is read leniently for the same reason.
 */
export const controlSchema = z.object({
  holder: z.string(),
  app_id: z.union([z.string(), z.number()]).nullable().optional().transform((v) => (v == null ? null : String(v))),
  since: z.string().nullable().optional().transform((v) => v ?? null),
});
export type Control = z.infer<typeof controlSchema>;

export const threadSchema = z.object({
  id,
  contact_name: z.string().nullable(),
  wa_id: z.string(),
  /** The business number the thread is on: its WhatsApp Business Account's templates are the ones to offer. */
  phone_number_id: z.string().regex(/^\d+$/).nullable().optional().transform((v) => v ?? null),
  bot: botSchema,
  /** Absent on servers older than Conversation Routing (2026-12): read as CoEx holding the thread. */
  control: controlSchema.nullable().optional().transform((v) => v ?? null),
  window: z.object({
    open: z.boolean(),
    closes_at: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  }),
});
export type Thread = z.infer<typeof threadSchema>;

export const originSchema = z.enum(['customer', 'app', 'api', 'agent', 'history']);
export type Origin = z.infer<typeof originSchema>;

export const messageSchema = z.object({
  id,
  direction: z.enum(['inbound', 'outbound']),
  origin: originSchema,
  type: z.string(),
  text: z.string().nullable().optional().transform((v) => v ?? null),
  timestamp: isoTimestamp,
  status: z.string().nullable().optional().transform((v) => v ?? null),
  transcript: z.string().nullable().optional().transform((v) => v ?? null),
  transcript_state: z.string().nullable().optional().transform((v) => v ?? null),
});
export type Message = z.infer<typeof messageSchema>;

export const syncSchema = z.object({
  history: z.object({ status: z.string(), progress: z.number().min(0).max(100).nullable().optional().transform((v) => v ?? 0) }),
  contacts: z.object({ status: z.string() }),
});
export type Sync = z.infer<typeof syncSchema>;

export const threadResponseSchema = z.object({
  thread: threadSchema.nullable(),
  messages: z.array(messageSchema),
  /** null while the tenant has no WhatsApp number connected. */
  sync: syncSchema.nullable(),
});
export type ThreadResponse = z.infer<typeof threadResponseSchema>;

// ---------------------------------------------------------------------------------------------
// GET /ext/v1/hubspot/templates

export const templateParametersSchema = z.object({
  format: z.enum(['positional', 'named']),
  /** Body placeholders in order of first appearance: ["1","2"] or ["first_name","order_id"]; [] = none. */
  names: z.array(z.string().min(1)),
});
export type TemplateParameters = z.infer<typeof templateParametersSchema>;

export const approvedTemplateSchema = z.object({
  name: z.string().min(1),
  language: z.string().min(2),
  category: z.string(),
  /** The body text with its {{placeholders}} ('' or null for a template without a text body). */
  body: z.string().nullable().optional().transform((v) => v ?? null),
  parameters: templateParametersSchema,
  sendable: z.boolean(),
  unsendable_reason: z.string().nullable().optional().transform((v) => v ?? null),
});
export type ApprovedTemplate = z.infer<typeof approvedTemplateSchema>;

export const templatesResponseSchema = z.object({
  templates: z.array(approvedTemplateSchema),
  /** Meta could not be reached: this is the last list the server had. */
  stale: z.boolean(),
  fetched_at: isoTimestamp.nullable().optional().transform((v) => v ?? null),
});
export type TemplatesResponse = z.infer<typeof templatesResponseSchema>;

// ---------------------------------------------------------------------------------------------
// GET /ext/v1/hubspot/campaigns

const count = z.number().int().min(0);

export const campaignCountsSchema = z.object({
  total: count,
  queued: count,
  sending: count,
  skipped: count,
  sent: count,
  delivered: count,
  read: count,
  failed: count,
  replied: count,
});
export type CampaignCounts = z.infer<typeof campaignCountsSchema>;

export const campaignRecipientSchema = z.object({
  /** Free-form: a new server state degrades to a neutral label. */
  status: z.string(),
  message_status: z.string().nullable().optional().transform((v) => v ?? null),
  error_code: z.union([z.number(), z.string()]).nullable().optional().transform((v) => (v == null ? null : String(v))),
  error: z.string().nullable().optional().transform((v) => v ?? null),
  sent_at: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  replied: z.boolean(),
});
export type CampaignRecipient = z.infer<typeof campaignRecipientSchema>;

export const campaignSchema = z.object({
  id,
  name: z.string(),
  status: z.string(),
  template: z.object({ name: z.string(), language: z.string(), category: z.string().nullable().optional().transform((v) => v ?? null) }),
  created_at: isoTimestamp,
  started_at: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  completed_at: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  counts: campaignCountsSchema,
  failures: z.array(z.object({ code: z.union([z.string(), z.number()]).transform(String), count, example: z.string().nullable().optional().transform((v) => v ?? null) })),
  recipient: campaignRecipientSchema.nullable(),
});
export type Campaign = z.infer<typeof campaignSchema>;

export const optOutSchema = z.object({
  /** keyword | api | crm | 131050 (Meta: the user stopped marketing messages); free-form for new sources. */
  source: z.string(),
  detail: z.string().nullable().optional().transform((v) => v ?? null),
  at: isoTimestamp,
});
export type OptOut = z.infer<typeof optOutSchema>;

export const campaignsResponseSchema = z.object({
  campaigns: z.array(campaignSchema),
  opt_out: optOutSchema.nullable(),
});
export type CampaignsResponse = z.infer<typeof campaignsResponseSchema>;

/** Error bodies of the CoEx API: `{ error, code? }` (409 `window_closed` on a closed window). */
export const errorBodySchema = z.object({ error: z.string(), code: z.string().optional() });
