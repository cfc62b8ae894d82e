// The hint rule: a public prefix of the credential's own provider's key format + "…" + the last 4
// characters (only for secrets of at least 20 characters). Another provider's prefix is never
// shown, however the secret starts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keyHint, PROVIDERS } from "../../service/providers/catalog.js";

const ADMIN_LOOKALIKE = "sk-ant-admin01-hunter2hunter"; // 28 characters

describe("key hints", () => {
  it("shows a custom secret as … + last 4, never a guessed prefix", () => {
    expect(keyHint(ADMIN_LOOKALIKE, "custom")).toBe("…nter");
    expect(keyHint("sk-proj-" + "a".repeat(30) + "wxyz", "custom")).toBe("…wxyz");
    expect(keyHint("AKIA" + "B".repeat(16), "custom")).toBe("…BBBB");
  });

  it("shows a custom secret shorter than 20 characters as … alone", () => {
    expect(keyHint("sk-ant-admin01-abcd", "custom")).toBe("…");
  });

  it("uses only the credential's own provider's prefixes", () => {
    expect(keyHint(ADMIN_LOOKALIKE, "openai")).toBe("sk-…nter");
    expect(keyHint(ADMIN_LOOKALIKE, "deepseek")).toBe("sk-…nter");
    expect(keyHint(ADMIN_LOOKALIKE, "anthropic")).toBe("sk-ant-admin01-…nter");
    expect(keyHint("sk-or-v1-" + "c".repeat(30), "openai")).toBe("sk-…cccc");
    expect(keyHint("sk-or-v1-" + "c".repeat(30), "openrouter")).toBe("sk-or-v1-…cccc");
    expect(keyHint("sk-proj-" + "d".repeat(30), "openai")).toBe("sk-proj-…dddd");
    expect(keyHint("pk-" + "e".repeat(30), "portkey")).toBe("…eeee");
    expect(keyHint("AKIA" + "F".repeat(16), "bedrock")).toBe("AKIA…FFFF");
  });

  it("never shows more than 4 characters beyond a prefix of the provider's own format", () => {
    const providerIds = PROVIDERS.map((p) => p.id);
    const ownPrefix = (providerId: string) => PROVIDERS.find((p) => p.id === providerId)!.key_prefix;
    const secret = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc
        .tuple(fc.constantFrom("sk-", "sk-ant-", "sk-ant-admin01-", "sk-proj-", "sk-or-v1-", "AIza", "AKIA", "pk-", "fw_"), fc.string({ maxLength: 40 }))
        .map(([p, s]) => p + s),
    );
    fc.assert(
      fc.property(secret, fc.constantFrom(...providerIds), (text, providerId) => {
        const hint = keyHint(text, providerId);
        const [prefix, suffix] = hint.split("…");
        expect(text.startsWith(prefix)).toBe(true);
        expect(suffix.length).toBeLessThanOrEqual(4);
        if (text.length < 20) expect(suffix).toBe("");
        // A prefix is a public format label of this provider: its key_prefix or a longer variant of it.
        if (prefix !== "") expect(providerId === "bedrock" || (ownPrefix(providerId) !== null && prefix.startsWith(ownPrefix(providerId)!))).toBe(true);
        if (providerId === "custom") expect(prefix).toBe("");
      }),
      { numRuns: 2000 },
    );
  });
});
