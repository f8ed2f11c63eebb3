import { z } from 'zod';

/**
 * Zod schemas for what Meta posts to the webhook of a Coexistence number (see
 * ../shared/docs/coex-spec.md). Every object is loose: Meta adds fields without notice and we keep
 * the raw payload, so unknown keys pass through instead of failing the parse.
 */

/** Latest instant a webhook timestamp may name (2100-01-01): later ones are not dates PostgreSQL or we can use. */
export const MAX_UNIX_SECONDS = 4_102_444_800;

/** Unix seconds as Meta sends them (a string), tolerating numbers; out-of-range values fail the item. */
export const unixSeconds = z
  .union([z.string().regex(/^\d{1,20}$/, 'timestamp out of range'), z.number().int().nonnegative()])
  .transform((v) => Number(v))
  .refine((n) => Number.isSafeInteger(n) && n <= MAX_UNIX_SECONDS, { message: 'timestamp out of range' })
  .transform((n) => new Date(n * 1000));

/** Graph ids (phone_number_id, WABA id): digits only, bounded, so they can key partitions and rows. */
export const GRAPH_ID = /^\d{1,32}$/;

export const graphErrorSchema = z.looseObject({
  code: z.number(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.looseObject({ details: z.string().optional() }).optional(),
  href: z.string().optional(),
});
export type GraphErrorPayload = z.infer<typeof graphErrorSchema>;

export const metadataSchema = z.looseObject({
  display_phone_number: z.string(),
  phone_number_id: z.string().regex(GRAPH_ID, 'phone_number_id must be 1–32 digits'),
});

export const profileContactSchema = z.looseObject({
  profile: z.looseObject({ name: z.string().optional(), username: z.string().optional() }).optional(),
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
  username: z.string().optional(),
  country_code: z.string().optional(),
});

const mediaSchema = z.looseObject({
  id: z.string().optional(),
  mime_type: z.string().optional(),
  sha256: z.string().optional(),
  caption: z.string().optional(),
  filename: z.string().optional(),
  animated: z.boolean().optional(),
  voice: z.boolean().optional(),
  url: z.string().optional(),
});

const contextSchema = z.looseObject({
  from: z.string().optional(),
  id: z.string().optional(),
  forwarded: z.boolean().optional(),
  frequently_forwarded: z.boolean().optional(),
  referred_product: z.looseObject({ catalog_id: z.string(), product_retailer_id: z.string() }).optional(),
});

/** Fields shared by every message object (live, echo, history). `type` stays a free string. */
const baseMessageShape = {
  from: z.string().optional(),
  to: z.string().optional(),
  id: z.string().min(1),
  timestamp: unixSeconds,
  type: z.string(),
  from_user_id: z.string().optional(),
  to_user_id: z.string().optional(),
  context: contextSchema.optional(),
  text: z.looseObject({ body: z.string(), preview_url: z.boolean().optional() }).optional(),
  image: mediaSchema.optional(),
  video: mediaSchema.optional(),
  audio: mediaSchema.optional(),
  document: mediaSchema.optional(),
  sticker: mediaSchema.optional(),
  location: z
    .looseObject({
      latitude: z.number(),
      longitude: z.number(),
      name: z.string().optional(),
      address: z.string().optional(),
      url: z.string().optional(),
    })
    .optional(),
  contacts: z
    .array(
      z.looseObject({
        name: z.looseObject({ formatted_name: z.string().optional(), first_name: z.string().optional() }).optional(),
        phones: z.array(z.looseObject({ phone: z.string().optional(), wa_id: z.string().optional(), type: z.string().optional() })).optional(),
      }),
    )
    .optional(),
  interactive: z
    .looseObject({
      type: z.string(),
      button_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
      list_reply: z.looseObject({ id: z.string(), title: z.string(), description: z.string().optional() }).optional(),
      nfm_reply: z.looseObject({ response_json: z.string().optional(), body: z.string().optional(), name: z.string().optional() }).optional(),
    })
    .optional(),
  button: z.looseObject({ payload: z.string().optional(), text: z.string().optional() }).optional(),
  reaction: z.looseObject({ message_id: z.string(), emoji: z.string().optional() }).optional(),
  order: z
    .looseObject({
      catalog_id: z.string().optional(),
      text: z.string().optional(),
      product_items: z
        .array(
          z.looseObject({
            product_retailer_id: z.string(),
            quantity: z.union([z.number(), z.string()]),
            item_price: z.union([z.number(), z.string()]).optional(),
            currency: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  system: z.looseObject({ body: z.string().optional(), type: z.string().optional(), new_wa_id: z.string().optional(), wa_id: z.string().optional() }).optional(),
  referral: z.looseObject({}).optional(),
  errors: z.array(graphErrorSchema).optional(),
  revoke: z.looseObject({ original_message_id: z.string() }).optional(),
  history_context: z.looseObject({ status: z.string().optional() }).optional(),
} as const;

/** `edit` carries the whole new message, which has the same shape minus the id/timestamp guarantees. */
const editedInnerSchema = z.looseObject({
  type: z.string(),
  text: z.looseObject({ body: z.string() }).optional(),
  image: mediaSchema.optional(),
  video: mediaSchema.optional(),
  document: mediaSchema.optional(),
});

export const messageSchema = z.looseObject({
  ...baseMessageShape,
  edit: z.looseObject({ original_message_id: z.string(), message: editedInnerSchema.optional() }).optional(),
});
export type WaMessage = z.infer<typeof messageSchema>;

export const statusSchema = z.looseObject({
  id: z.string().min(1),
  status: z.string(),
  timestamp: unixSeconds,
  recipient_id: z.string().optional(),
  recipient_user_id: z.string().optional(),
  conversation: z.looseObject({}).optional(),
  pricing: z.looseObject({}).optional(),
  errors: z.array(graphErrorSchema).optional(),
  biz_opaque_callback_data: z.string().optional(),
});
export type WaStatus = z.infer<typeof statusSchema>;

/** `messages` field: live customer messages and statuses (and customer media follow-ups under `history`). */
export const messagesValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema,
  contacts: z.array(profileContactSchema).optional(),
  messages: z.array(messageSchema).optional(),
  statuses: z.array(statusSchema).optional(),
  errors: z.array(graphErrorSchema).optional(),
});

export const echoesValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema,
  contacts: z.array(profileContactSchema).optional(),
  message_echoes: z.array(messageSchema),
});

export const historyThreadSchema = z.looseObject({
  id: z.string(),
  context: z.looseObject({ wa_id: z.string().optional(), user_id: z.string().optional(), username: z.string().optional() }).optional(),
  messages: z.array(messageSchema),
});

/** A history item is either a chunk (metadata + threads) or, when the business declined, errors. */
export const historyItemSchema = z.looseObject({
  metadata: z.looseObject({ phase: z.number().int().min(0).max(2), chunk_order: z.number().int().min(0), progress: z.number().min(0).max(100) }).optional(),
  threads: z.array(historyThreadSchema).optional(),
  errors: z.array(graphErrorSchema).optional(),
});

/** `history` field: either the chunks (`history[]`) or a later media follow-up (`messages` / `message_echoes`). */
export const historyValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema,
  history: z.array(historyItemSchema).optional(),
  messages: z.array(messageSchema).optional(),
  message_echoes: z.array(messageSchema).optional(),
  contacts: z.array(profileContactSchema).optional(),
});

export const stateSyncItemSchema = z.looseObject({
  type: z.string(),
  action: z.string(),
  contact: z
    .looseObject({
      full_name: z.string().optional(),
      first_name: z.string().optional(),
      phone_number: z.string().optional(),
      user_id: z.string().optional(),
      username: z.string().optional(),
      country_code: z.string().optional(),
    })
    .optional(),
  metadata: z.looseObject({ timestamp: unixSeconds.optional() }).optional(),
});

export const stateSyncValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema,
  state_sync: z.array(stateSyncItemSchema),
});

/** `DISABLED_UPDATE`: the WABA's ban state (`SCHEDULE_FOR_DISABLE`, `DISABLE`, `REINSTATE`) and a date in words ("April 17, 2025"). */
export const banInfoSchema = z.looseObject({ waba_ban_state: z.string().optional(), waba_ban_date: z.string().optional() });
/** `ACCOUNT_VIOLATION`: a policy notice, e.g. `{ "violation_type": "ADULT" }`. */
export const violationInfoSchema = z.looseObject({ violation_type: z.string().optional() });
/** `ACCOUNT_RESTRICTION` (and a violation that comes with one): what is restricted and until when (unix seconds or ISO). */
export const restrictionInfoSchema = z.looseObject({ restriction_type: z.string().optional(), expiration: z.union([z.number(), z.string()]).optional() });

export const accountUpdateValueSchema = z.looseObject({
  phone_number: z.string().optional(),
  event: z.string(),
  disconnection_info: z.looseObject({ reason: z.string().optional(), initiated_by: z.string().optional() }).optional(),
  ban_info: banInfoSchema.optional(),
  violation_info: violationInfoSchema.optional(),
  restriction_info: z.array(restrictionInfoSchema).optional(),
});

/**
 * `user_preferences` field: the customer told WhatsApp itself to stop (or resume) marketing messages
 * from this business, or signed up through a link. `wa_id` may be absent for users known only by
 * their business-scoped user id.
 */
export const userPreferenceSchema = z.looseObject({
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
  detail: z.string().optional(),
  category: z.string(),
  value: z.string(),
  signup_id: z.union([z.string(), z.number()]).optional(),
  timestamp: unixSeconds,
});
export const userPreferencesValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema,
  contacts: z.array(profileContactSchema).optional(),
  user_preferences: z.array(userPreferenceSchema),
});

export const changeSchema = z.looseObject({ field: z.string(), value: z.unknown() });

export const envelopeSchema = z.looseObject({
  object: z.string(),
  entry: z.array(
    z.looseObject({
      id: z.string(),
      time: z.number().optional(),
      changes: z.array(changeSchema).default([]),
    }),
  ),
});
export type WebhookEnvelope = z.infer<typeof envelopeSchema>;
