// `keyplane provider …`: the signing key of provider releases and publishing a build into the
// directory the service's registry serves (KEYPLANE_PROVIDER_DIR).
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { ValidationError } from "../errors.js";
import { generateSigningKey } from "../provider-registry/release-signing.js";
import { publishReleases, type ReleaseSigningKey } from "../provider-registry/registry-service.js";

/** Where `keyplane provider keygen` writes the key, and the build and publish look for it, when KEYPLANE_PROVIDER_SIGNING_KEY_FILE is unset. */
const DEFAULT_SIGNING_KEY_FILE = ".keyplane/provider-signing-key.asc";

export function registerProviderCommand(program: Command): void {
  const provider = program.command("provider").description("provider releases: signing key and publishing");

  provider
    .command("keygen")
    .description("create the OpenPGP key that signs provider releases (private key 0600, public key beside it)")
    .option(
      "--out <file>",
      "private key file (env KEYPLANE_PROVIDER_SIGNING_KEY_FILE)",
      process.env.KEYPLANE_PROVIDER_SIGNING_KEY_FILE ?? DEFAULT_SIGNING_KEY_FILE,
    )
    .option("--name <name>", "the key's user id", "Keyplane provider releases")
    .option("--email <email>", "the key's e-mail address")
    .action(async (opts: { out: string; name: string; email?: string }) => {
      const out = resolve(opts.out);
      // Protects the private key when set; the build reads the same variable to unlock it.
      const passphrase = process.env.KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE || undefined;
      const key = await generateSigningKey({ name: opts.name, email: opts.email, passphrase });
      await mkdir(dirname(out), { recursive: true });
      // "wx": an existing key is never overwritten (releases signed by it would become unverifiable).
      await writeFile(out, key.privateKey, { mode: 0o600, flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error;
        throw new ValidationError([{ path: "--out", message: `${out} exists; move it away first (see "Rotating the signing key" in the README)` }]);
      });
      await writeFile(`${out}.pub`, key.publicKey);
      process.stdout.write(`key id ${key.keyId}\nprivate key: ${out} (mode 0600${passphrase ? ", passphrase-protected" : ""})\npublic key:  ${out}.pub\n`);
    });

  provider
    .command("publish")
    .description("copy the signed releases of a build into the directory the service serves")
    .option("--from <dir>", "the build's release directory", "dist/provider")
    .option("--to <dir>", "the served directory (default KEYPLANE_PROVIDER_DIR)")
    .option("--replace", "replace packages the directory already serves under the same version and platform (lock files that recorded them then fail)")
    .action(async (opts: { from: string; to?: string; replace?: boolean }) => {
      const to = opts.to ?? process.env.KEYPLANE_PROVIDER_DIR;
      if (!to) throw new ValidationError([{ path: "--to", message: "is required when KEYPLANE_PROVIDER_DIR is not set" }]);
      const from = resolve(opts.from);
      const target = resolve(to);
      if (from === target) throw new ValidationError([{ path: "--to", message: "is the directory being published from" }]);
      const versions = await publishReleases(from, target, () => releaseSigningKey(process.cwd()), { replace: opts.replace });
      process.stdout.write(`published ${versions.join(", ")} to ${target}\n`);
    });
}

/**
 * The key that signs releases, found alike by `npm run build:provider` and by `keyplane provider
 * publish` (which reads it only when it must sign merged sums): the file
 * KEYPLANE_PROVIDER_SIGNING_KEY_FILE names, else DEFAULT_SIGNING_KEY_FILE under `base` (where
 * `keyplane provider keygen` writes without --out), unlocked in either case with
 * KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE, the variable keygen protects the key with. When neither
 * file exists, the build makes a development key at the default place (`makeDevelopmentKey`,
 * protected by the passphrase when one is set; `generated` says so) and publish refuses.
 */
export async function releaseSigningKey(
  base: string,
  options: { makeDevelopmentKey?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReleaseSigningKey & { generated?: { file: string; keyId: string } }> {
  const configured = env.KEYPLANE_PROVIDER_SIGNING_KEY_FILE;
  const file = configured ? resolve(configured) : resolve(base, DEFAULT_SIGNING_KEY_FILE);
  const passphrase = env.KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE || undefined;
  let generated: { file: string; keyId: string } | undefined;
  if (!configured && options.makeDevelopmentKey && !existsSync(file)) {
    const key = await generateSigningKey({ name: "Keyplane provider (development build)", passphrase });
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, key.privateKey, { mode: 0o600, flag: "wx" });
    await writeFile(`${file}.pub`, key.publicKey);
    generated = { file, keyId: key.keyId };
  }
  const privateKey = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
    throw new ValidationError(
      [
        {
          path: "signing key",
          message: configured
            ? `${file} (KEYPLANE_PROVIDER_SIGNING_KEY_FILE) does not exist`
            : `${file} does not exist: set KEYPLANE_PROVIDER_SIGNING_KEY_FILE to the key that signs releases`,
        },
      ],
      "No release signing key.",
    );
  });
  return { privateKey, passphrase, generated };
}
