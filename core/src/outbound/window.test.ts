import { describe, expect, it } from 'vitest';
import {
  assertCanSendFreeForm,
  CUSTOMER_SERVICE_WINDOW_MS,
  isWindowOpen,
  windowClosesAt,
  WindowClosedError,
  windowRemainingMs,
} from './window.js';

const lastMessage = new Date('2026-11-24T10:00:00Z');
const at = (iso: string): Date => new Date(iso);

describe('24-hour customer-service window', () => {
  it('is closed when the customer never wrote', () => {
    expect(isWindowOpen(null, at('2026-11-24T10:00:00Z'))).toBe(false);
    expect(windowClosesAt(null)).toBeNull();
    expect(windowRemainingMs(null, at('2026-11-24T10:00:00Z'))).toBe(0);
  });

  it('is open until exactly 24 hours after the last customer message', () => {
    expect(isWindowOpen(lastMessage, at('2026-11-24T10:00:00Z'))).toBe(true);
    expect(isWindowOpen(lastMessage, at('2026-11-25T09:59:59.999Z'))).toBe(true);
    expect(isWindowOpen(lastMessage, at('2026-11-25T10:00:00Z'))).toBe(false);
    expect(windowClosesAt(lastMessage)?.toISOString()).toBe('2026-11-25T10:00:00.000Z');
  });

  it('reports the time left', () => {
    expect(windowRemainingMs(lastMessage, at('2026-11-25T09:00:00Z'))).toBe(3600 * 1000);
    expect(windowRemainingMs(lastMessage, at('2026-11-26T00:00:00Z'))).toBe(0);
    expect(windowRemainingMs(lastMessage, lastMessage)).toBe(CUSTOMER_SERVICE_WINDOW_MS);
  });

  it('stays open when the last message is slightly ahead of our clock (skew)', () => {
    expect(isWindowOpen(at('2026-11-24T10:00:05Z'), at('2026-11-24T10:00:00Z'))).toBe(true);
  });

  it('lets free-form messages through while open', () => {
    expect(() => assertCanSendFreeForm(lastMessage, at('2026-11-24T20:00:00Z'))).not.toThrow();
  });

  it('throws WindowClosedError naming the template requirement when closed', () => {
    let thrown: unknown;
    try {
      assertCanSendFreeForm(lastMessage, at('2026-11-25T10:00:01Z'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WindowClosedError);
    const err = thrown as WindowClosedError;
    expect(err.message).toMatch(/template/i);
    expect(err.message).toContain('2026-11-25T10:00:00.000Z');
    expect(err.closedAt?.toISOString()).toBe('2026-11-25T10:00:00.000Z');
  });

  it('explains a window that was never opened', () => {
    expect(() => assertCanSendFreeForm(null, lastMessage)).toThrow(/not written.*template/i);
  });

  it('rejects invalid dates instead of guessing', () => {
    expect(() => isWindowOpen(new Date('nope'), lastMessage)).toThrow(TypeError);
    expect(() => isWindowOpen(lastMessage, new Date(Number.NaN))).toThrow(TypeError);
  });
});
