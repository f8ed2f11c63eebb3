import { pino, type Logger } from 'pino';

/** Structured logs; anything that may hold a secret is redacted before it leaves the process. */
export function createLogger(level: string = 'info'): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-hub-signature-256"]',
        'headers.authorization',
        '*.accessToken',
        '*.access_token',
        '*.apiKey',
        '*.appSecret',
        '*.token',
        'accessToken',
        'apiKey',
        'token',
      ],
      censor: '[redacted]',
    },
  });
}
