/**
 * The WhatsApp 24-hour customer-service window, as pure functions.
 *
 * Free-form messages (text, media, interactive, reactions) may be sent only within 24 hours of the
 * customer's last message; outside it only templates go through (Meta answers 131047 otherwise).
 * Only the customer's own *live* messages open the window: app echoes, history imports and statuses
 * do not (coex-spec §3, §4, §10). Callers pass that timestamp; this module never guesses it.
 */

export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

function assertValidDate(value: Date, name: string): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(`${name} must be a valid Date`);
  }
}

/** When the window closes, or null if the customer never wrote (it was never open). */
export function windowClosesAt(lastCustomerMessageAt: Date | null): Date | null {
  if (lastCustomerMessageAt === null) return null;
  assertValidDate(lastCustomerMessageAt, 'lastCustomerMessageAt');
  return new Date(lastCustomerMessageAt.getTime() + CUSTOMER_SERVICE_WINDOW_MS);
}

/** True while `now` is strictly before the moment the window closes. */
export function isWindowOpen(lastCustomerMessageAt: Date | null, now: Date): boolean {
  assertValidDate(now, 'now');
  const closesAt = windowClosesAt(lastCustomerMessageAt);
  return closesAt !== null && now.getTime() < closesAt.getTime();
}

/** Milliseconds left in the window (0 when closed). Useful to schedule "window closing soon" work. */
export function windowRemainingMs(lastCustomerMessageAt: Date | null, now: Date): number {
  assertValidDate(now, 'now');
  const closesAt = windowClosesAt(lastCustomerMessageAt);
  if (closesAt === null) return 0;
  return Math.max(0, closesAt.getTime() - now.getTime());
}

export class WindowClosedError extends Error {
  override readonly name = 'WindowClosedError';
  /** When the window closed; null if the customer never wrote after onboarding. */
  readonly closedAt: Date | null;

  constructor(closedAt: Date | null) {
    const why =
      closedAt === null
        ? 'the customer has not written to this number yet, so no 24-hour window is open'
        : `the 24-hour customer-service window closed at ${closedAt.toISOString()}`;
    super(`Cannot send a free-form message: ${why}. Send an approved template message instead.`);
    this.closedAt = closedAt;
  }
}

/** Throws WindowClosedError unless a free-form (non-template) message may be sent now. */
export function assertCanSendFreeForm(lastCustomerMessageAt: Date | null, now: Date): void {
  if (!isWindowOpen(lastCustomerMessageAt, now)) {
    throw new WindowClosedError(windowClosesAt(lastCustomerMessageAt));
  }
}
