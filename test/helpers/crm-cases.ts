import { expect } from 'vitest';
import { CrmError, type ArchivedMessage } from '../../connectors/src/types.js';

/**
 * An archived message as the CRM outbox hands it to a connector — an inbound text from Amina to the
 * shop's number — with `over` replacing any field. The connector tests of the four CRMs build theirs
 * from it.
 */
export function archivedMessage(id: string, over: Partial<ArchivedMessage> = {}): ArchivedMessage {
  return {
    id,
    wamid: `wamid.${id}`,
    threadId: 'thread-1',
    direction: 'inbound',
    origin: 'customer',
    type: 'text',
    text: `text of ${id}`,
    timestamp: '2026-03-01T10:00:00.000Z',
    status: null,
    customerPhone: '+212612345678',
    customerName: 'Amina',
    businessPhone: '+212522000000',
    ...over,
  };
}

/** The CrmError a connector call rejects with; resolving, or rejecting with anything else, fails the test. */
export async function crmError(call: Promise<unknown>): Promise<CrmError> {
  const err = await call.then(
    () => {
      throw new Error('expected a CrmError rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CrmError);
  return err as CrmError;
}
