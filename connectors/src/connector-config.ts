import type { CountryCode } from 'libphonenumber-js';
import { z } from 'zod';

/*
 * What the connectors configured from a stored row (Odoo, Zoho) do first in their constructor:
 * parse the row with the connector's schema, and read the country used for national-format phones.
 */

/** The parsed config, or an Error naming the connector, the field and the rule (never the value: keys stay out of logs). */
export function parseConnectorConfig<S extends z.ZodType>(schema: S, config: unknown, connector: string): z.output<S> {
  const parsed = schema.safeParse(config);
  if (!parsed.success) throw new Error(`${connector}: invalid config: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Country for reading national-format numbers found in the CRM; Morocco unless configured. */
export function configuredCountry(code: string | undefined): CountryCode {
  return (code?.toUpperCase() ?? 'MA') as CountryCode;
}
