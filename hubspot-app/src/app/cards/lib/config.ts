/*
 * Per-deployment settings, compiled into the card (a UI extension has no environment at run
 * time). Change COEX_SERVER_URL together with permittedUrls.fetch in src/app/app-hsmeta.json:
 * hubspot.fetch refuses any URL not listed there (test/project-files.test.ts checks they agree).
 */
export const COEX_SERVER_URL = 'https://coex.example.com';

/** How often the card re-reads a thread while a transcript or a history import is in progress. */
export const REFRESH_WHILE_BUSY_MS = 8_000;

/** Messages shown at first; older ones appear with "Show earlier messages". */
export const INITIAL_MESSAGE_LIMIT = 30;
