import { z } from 'zod';

/** The parts of WooCommerce REST (wc/v3) objects CoEx reads. Everything else passes through. */

export const wooAddress = z.looseObject({
  first_name: z.string().optional().default(''),
  last_name: z.string().optional().default(''),
  company: z.string().optional(),
  email: z.string().nullable().optional(),
  phone: z.string().nullable().optional(),
});

export const wooOrder = z.looseObject({
  id: z.number().int().positive(),
  number: z.union([z.string(), z.number()]).transform(String).optional(),
  status: z.string(),
  currency: z.string().optional(),
  total: z.string().optional(),
  customer_id: z.number().int().nonnegative().default(0),
  date_created_gmt: z.string().nullable().optional(),
  date_created: z.string().nullable().optional(),
  date_modified_gmt: z.string().nullable().optional(),
  billing: wooAddress,
  shipping: wooAddress.partial().optional(),
});
export type WooOrder = z.infer<typeof wooOrder>;

export const wooOrderList = z.array(wooOrder);

export const wooOrderNote = z.looseObject({
  id: z.number().int().positive(),
  note: z.string(),
  customer_note: z.boolean(),
  date_created_gmt: z.string().optional(),
  author: z.string().optional(),
});
export type WooOrderNote = z.infer<typeof wooOrderNote>;
export const wooOrderNoteList = z.array(wooOrderNote);

/** WordPress REST error body: `{ code, message, data: { status } }`. */
export const wpError = z.looseObject({
  code: z.string(),
  message: z.string(),
  data: z.looseObject({ status: z.number().int().optional() }).nullable().optional(),
});

/**
 * Response of the CoEx companion plugin's `GET /wp-json/coex/v1/lookup?phone=<E.164>`: the
 * customer (if the phone belongs to a registered one) and that phone's orders, newest first,
 * matched by the plugin on the normalized billing phone.
 */
export const coexLookup = z.looseObject({
  phone: z.string(),
  customer: z
    .looseObject({
      id: z.number().int().positive(),
      first_name: z.string().optional(),
      last_name: z.string().optional(),
      email: z.string().optional(),
    })
    .nullable(),
  orders: z.array(
    z.looseObject({
      id: z.number().int().positive(),
      number: z.union([z.string(), z.number()]).transform(String).optional(),
      status: z.string(),
      customer_id: z.number().int().nonnegative().default(0),
      date_created_gmt: z.string().nullable().optional(),
      total: z.string().optional(),
      currency: z.string().optional(),
    }),
  ),
});
export type CoexLookup = z.infer<typeof coexLookup>;

/** What the connector needs about an order, whichever route found it. */
export interface OrderRef {
  id: number;
  customerId: number;
  createdAt: number;
}

/** A wc/v3 customer, as far as CoEx reads it: its meta_data (consent flags live there). */
export const wooCustomer = z.looseObject({
  id: z.number().int().positive(),
  meta_data: z
    .array(z.looseObject({ id: z.number().int().optional(), key: z.string(), value: z.unknown() }))
    .optional()
    .default([]),
});
