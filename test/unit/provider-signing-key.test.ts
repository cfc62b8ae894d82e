// The release signing key as `npm run build:provider` and `keyplane provider publish` find it: a key
// `keyplane provider keygen` made with a passphrase at the default place is unlocked with
// KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE, as a configured key file is.
import { Command } from "commander";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { registerProviderCommand, releaseSigningKey } from "../../service/cli/provider.js";
import { signDetached } from "../../service/provider-registry/release-signing.js";

const root = mkdtempSync(join(tmpdir(), "kp-signing-key-"));
const DEFAULT = ".keyplane/provider-signing-key.asc";
const saved = process.env.KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE;

afterEach(() => {
  if (saved === undefined) delete process.env.KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE;
  else process.env.KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE = saved;
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the release signing key at the default place", () => {
  it("made by keygen with a passphrase is unlocked with the same variable", async () => {
    const checkout = mkdtempSync(join(root, "checkout-"));
    process.env.KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE = "correct horse";
    const printed = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const program = new Command().exitOverride();
    registerProviderCommand(program);
    await program.parseAsync(["provider", "keygen", "--out", join(checkout, DEFAULT)], { from: "user" }).finally(() => printed.mockRestore());
    expect(readFileSync(join(checkout, DEFAULT), "utf8")).toContain("PRIVATE KEY BLOCK");

    const env = { KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE: "correct horse" };
    const key = await releaseSigningKey(checkout, { makeDevelopmentKey: true }, env);
    expect(key).toMatchObject({ passphrase: "correct horse", generated: undefined });
    const { publicKey } = await signDetached(Buffer.from("sums"), key.privateKey, key.passphrase);
    expect(publicKey).toBe(readFileSync(join(checkout, `${DEFAULT}.pub`), "utf8"));

    // What the build did before: the default key read without the passphrase.
    const locked = await releaseSigningKey(checkout, { makeDevelopmentKey: true }, {});
    await expect(signDetached(Buffer.from("sums"), locked.privateKey, locked.passphrase)).rejects.toThrow(/KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE/);
  }, 60_000);

  it("is made once for a build when missing, protected by the passphrase when one is set", async () => {
    const checkout = mkdtempSync(join(root, "checkout-"));
    const env = { KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE: "build secret" };
    const made = await releaseSigningKey(checkout, { makeDevelopmentKey: true }, env);
    expect(made.generated?.file).toBe(join(checkout, DEFAULT));
    expect(statSync(join(checkout, DEFAULT)).mode & 0o777).toBe(0o600);
    await expect(signDetached(Buffer.from("sums"), made.privateKey)).rejects.toThrow(/KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE/);
    await expect(signDetached(Buffer.from("sums"), made.privateKey, made.passphrase)).resolves.toMatchObject({});

    const again = await releaseSigningKey(checkout, { makeDevelopmentKey: true }, env);
    expect(again.generated).toBeUndefined();
    expect(again.privateKey).toBe(made.privateKey);
  }, 60_000);

  it("is refused by publish when missing, which makes no key", async () => {
    const checkout = mkdtempSync(join(root, "checkout-"));
    await expect(releaseSigningKey(checkout, {}, {})).rejects.toMatchObject({ code: "validation_failed" });
  });
});
