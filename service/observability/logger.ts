import { pino, type Logger, type DestinationStream } from "pino";

// Every path where a secret could sit in a logged object. Handlers never log bodies, but a
// redaction list is the net under that rule.
export const REDACTED_PATHS = [
  "api_key",
  "secret",
  "token",
  "fields",
  "password",
  "authorization",
  "*.api_key",
  "*.secret",
  "*.token",
  "*.fields",
  "*.password",
  "*.authorization",
  "*.*.api_key",
  "*.*.secret",
  "*.*.fields",
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "body",
  "*.body",
  "variables",
  "*.variables",
];

export function createLogger(level = "info", destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "keyplane" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

export type { Logger };
