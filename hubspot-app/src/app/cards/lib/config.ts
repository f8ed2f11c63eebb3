import type { TemplateChoice } from './contract.js';

/*
 * Per-deployment settings, compiled into the card (a UI extension has no environment at run
 * time). Change COEX_SERVER_URL together with permittedUrls.fetch in src/app/app-hsmeta.json:
 * hubspot.fetch refuses any URL not listed there (test/hubspot-app.test.ts checks they agree).
 */
export const COEX_SERVER_URL = 'https://coex.example.com';

/**
 * Templates offered when the 24-hour window is closed and the server does not list its own.
 * Use names of templates approved for your WhatsApp Business Account.
 */
export const FALLBACK_TEMPLATES: readonly TemplateChoice[] = [
  { name: 'follow_up', language: 'fr', label: 'Follow-up (French)' },
  { name: 'follow_up', language: 'ar', label: 'Follow-up (Arabic)' },
  { name: 'follow_up', language: 'en', label: 'Follow-up (English)' },
];

/** How often the card re-reads a thread while a transcript or a history import is in progress. */
export const REFRESH_WHILE_BUSY_MS = 8_000;

/** Messages shown at first; older ones appear with "Show earlier messages". */
export const INITIAL_MESSAGE_LIMIT = 30;
