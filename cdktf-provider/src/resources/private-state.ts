// The private state a resource keeps with each object (the engine stores it beside the state and
// never shows it): JSON holding the ETag of the last read or write, sent back as If-Match, and for
// credentials the key_version this configuration last pushed. Never a secret.

export interface PrivateState {
  /** Format marker: keyplane_credential has always written it, keyplane_project never has. */
  v?: 1;
  etag?: string;
  key_version?: number;
}

/** The fields it recognises; empty for absent or unreadable bytes. */
export function readPrivate(raw: Uint8Array | undefined): PrivateState {
  if (!raw || raw.length === 0) return {};
  try {
    const parsed = JSON.parse(Buffer.from(raw).toString("utf8")) as Record<string, unknown>;
    return {
      ...(parsed.v === 1 ? { v: 1 } : {}),
      ...(typeof parsed.etag === "string" ? { etag: parsed.etag } : {}),
      ...(typeof parsed.key_version === "number" ? { key_version: parsed.key_version } : {}),
    };
  } catch {
    return {};
  }
}

export function writePrivate(state: PrivateState): Buffer {
  return Buffer.from(JSON.stringify(state), "utf8");
}
