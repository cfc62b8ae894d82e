import { createHmac } from "node:crypto";
import type { Redacted } from "../crypto/redacted.js";
import { keyHint, PROVIDERS, findProvider } from "../providers/catalog.js";

/**
 * provider id → catalog env var of every provider a platform key can serve (single-key
 * providers). Passed to loadConfig so KEYPLANE_PLATFORM_KEYS_FROM_ENV=1 picks up e.g. OPENAI_API_KEY.
 */
export function platformKeyEnvVars(): Record<string, string> {
  return Object.fromEntries(PROVIDERS.filter((p) => p.credential_type === "api_token").map((p) => [p.id, p.default_env_var]));
}

export interface PlatformKey {
  value: string;
  hint: string;
  /** Keyed digest of the value: lets the environment ETag change with the key without exposing it. */
  digest: string;
}

/** The deployment's platform keys, checked against the catalog once at start. */
export class PlatformKeys {
  private readonly keys = new Map<string, PlatformKey>();
  /** Configured provider ids that no platform key can serve (unknown, or a multi-field type). */
  readonly ignored: string[] = [];

  constructor(configured: ReadonlyMap<string, Redacted<string>>, digestKey: Buffer) {
    for (const [providerId, secret] of configured) {
      const provider = findProvider(providerId);
      if (!provider || provider.credential_type !== "api_token") {
        this.ignored.push(providerId);
        continue;
      }
      const value = secret.reveal();
      this.keys.set(providerId, {
        value,
        hint: keyHint(value, provider.id),
        digest: createHmac("sha256", digestKey).update(`${providerId}\u0000${value}`).digest("base64url"),
      });
    }
  }

  get(providerId: string): PlatformKey | undefined {
    return this.keys.get(providerId);
  }
}
