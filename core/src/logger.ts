import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';

/** auto = readable lines when stdout is a terminal, JSON lines otherwise (files, journald, collectors). */
export function resolveLogFormat(format: LogFormat, isTty: boolean = Boolean(process.stdout.isTTY)): 'json' | 'pretty' {
  return format === 'auto' ? (isTty ? 'pretty' : 'json') : format;
}

/**
 * Structured logs; anything that may hold a secret is redacted before it leaves the process. In a
 * terminal they are pretty-printed in-process (pino-pretty as a synchronous stream: no worker thread).
 */
export function createLogger(level: string = 'info', format: LogFormat = 'auto'): Logger {
  const options = {
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
  };
  if (resolveLogFormat(format) === 'pretty') return pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true }));
  return pino(options);
}
