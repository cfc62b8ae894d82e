// Plugin logging: stdout belongs to the handshake, so everything goes to stderr, one JSON object
// per line in hclog's shape (@level, @message, @timestamp, @module) — go-plugin clients parse that
// and re-emit it under TF_LOG / TF_LOG_PROVIDER with the right level.
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export interface Logger {
  trace(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function levelFromEnv(env: NodeJS.ProcessEnv): LogLevel {
  const raw = (env.TF_LOG_PROVIDER ?? env.TF_LOG ?? "").toLowerCase();
  if (raw === "json") return "trace";
  return raw in ORDER ? (raw as LogLevel) : "info";
}

export function createLogger(env: NodeJS.ProcessEnv = process.env, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const threshold = ORDER[levelFromEnv(env)];
  // A level below the threshold is a function that does nothing: every RPC logs at trace.
  const log = (level: LogLevel) =>
    ORDER[level] < threshold
      ? () => {}
      : (message: string, fields?: Record<string, unknown>) => {
          write(
            JSON.stringify({
              "@level": level,
              "@message": message,
              "@module": "keyplane",
              // go-plugin only parses microsecond timestamps; with any other shape it logs the raw line.
              "@timestamp": new Date().toISOString().replace(/Z$/, "000Z"),
              ...fields,
            }) + "\n",
          );
        };
  return { trace: log("trace"), debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}
