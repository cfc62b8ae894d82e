#!/usr/bin/env node
import { Command, Option } from "commander";
import { readFile } from "node:fs/promises";
import cliProgress from "cli-progress";
import { loadConfig } from "../config.js";
import { openDb, migrate } from "../db/index.js";
import { loadMasterKeyring, MasterKey } from "../crypto/index.js";
import { ROLES, type Role } from "../auth/tokens.js";
import { createToken } from "../tokens/token-service.js";
import { verifyOrganizationChain } from "../audit/audit-service.js";
import { nextDevelopmentKey, promoteDevelopmentKey, rewrapAllDataKeys, type RewrapProgress } from "./master-key-rotation.js";
import { registerRunCommand } from "./run.js";
import { registerEnvCommand } from "./env.js";

const program = new Command();
program.name("keyplane").description("Keyplane: organization-owned AI provider credentials").showHelpAfterError();
// `run` passes every option after the command name on to the command itself.
program.enablePositionalOptions();

program
  .command("serve")
  .description("start the control plane (runs migrations first)")
  .action(async () => {
    const { serve } = await import("../server.js");
    await serve();
  });

program
  .command("migrate")
  .description("apply database migrations and exit")
  .action(async () => {
    const config = loadConfig();
    const db = await openDb(config.database);
    try {
      const result = await migrate(db);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await db.close();
    }
  });

const token = program.command("token").description("manage API tokens directly in the database");
token
  .command("create")
  .description("create a token and print it once")
  .option("--org <id>", "organization id (omit for a platform_admin token)")
  .addOption(new Option("--role <role>", "token role").choices([...ROLES]).makeOptionMandatory())
  .option("--name <name>", "a name that says what the token is for", "cli")
  .option("--expires-at <iso>", "expiry time (ISO 8601)")
  .action(async (opts: { org?: string; role: Role; name: string; expiresAt?: string }) => {
    if ((opts.role === "platform_admin") !== (opts.org === undefined)) {
      fail(opts.role === "platform_admin" ? "a platform_admin token belongs to no organization: drop --org" : "--org is required for this role");
    }
    const config = loadConfig();
    const db = await openDb(config.database);
    try {
      await migrate(db);
      const created = await db.transaction(async (tx) => {
        if (opts.org) {
          const { rows } = await tx.query("select 1 from organizations where id = $1", [opts.org]);
          if (rows.length === 0) fail(`no organization ${opts.org}`);
        }
        return createToken(
          tx,
          { organizationId: opts.org ?? null, role: opts.role, name: opts.name, expiresAt: opts.expiresAt ?? null },
          { tokenId: null, role: null },
          "cli",
        );
      });
      process.stderr.write(`created token ${created.record.id} (${opts.role}); it is shown only this once:\n`);
      process.stdout.write(`${created.token}\n`);
    } finally {
      await db.close();
    }
  });

program
  .command("rotate-master-key")
  .description("re-wrap every data key under a new master key (resumable: run again after an interruption)")
  .option("--new-key-file <path>", "file holding the new key (base64 of 32 bytes); default for the development key: generate one")
  .option("--batch-size <n>", "rows per transaction", (v) => Number.parseInt(v, 10), 200)
  .action(async (opts: { newKeyFile?: string; batchSize: number }) => {
    const config = loadConfig();
    const loaded = await loadMasterKeyring(config);
    const db = await openDb(config.database);
    try {
      await migrate(db);
      const development = loaded.source === "data-dir";
      if (!opts.newKeyFile && !development) {
        fail("pass --new-key-file with the new master key; then set KEYPLANE_MASTER_KEY to it and keep the old one in KEYPLANE_MASTER_KEY_PREVIOUS until this finishes");
      }
      const newKey = opts.newKeyFile
        ? MasterKey.fromBase64((await readFile(opts.newKeyFile, "utf8")).trim())
        : (await nextDevelopmentKey(config.dataDir)).key;
      const progress = progressReporter();
      const result = await rewrapAllDataKeys(db, loaded.keyring, newKey, progress.update, opts.batchSize);
      progress.stop();
      if (development && !opts.newKeyFile) await promoteDevelopmentKey(config.dataDir);
      process.stderr.write(`re-wrapped ${result.done} data keys under master key ${newKey.id}\n`);
      if (!development) process.stderr.write("now set KEYPLANE_MASTER_KEY to the new key and restart the service\n");
    } finally {
      await db.close();
    }
  });

const audit = program.command("audit").description("audit log tools");
audit
  .command("verify")
  .description("check the hash chain of an organization's audit log")
  .option("--org <id>", "organization id (omit for the platform chain)")
  .action(async (opts: { org?: string }) => {
    const config = loadConfig();
    const db = await openDb(config.database);
    try {
      const result = await verifyOrganizationChain(db, opts.org ?? null);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      if (!result.valid) process.exitCode = 1;
    } finally {
      await db.close();
    }
  });

registerRunCommand(program);
registerEnvCommand(program);

/**
 * A progress bar on a terminal; in logs (no TTY) a plain line every 5% so CI output and operators
 * tailing a log still see it move.
 */
function progressReporter() {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: "re-wrapping data keys [{bar}] {value}/{total}", stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: ({ total, done }: RewrapProgress) => {
        if (!started) bar.start(total, done);
        else bar.update(done);
        started = true;
      },
      stop: () => bar.stop(),
    };
  }
  let printed = -1;
  return {
    update: ({ total, done }: RewrapProgress) => {
      if (printed >= 0 && done < total && done - printed < Math.max(1, total / 20)) return;
      printed = done;
      process.stderr.write(`re-wrapping data keys: ${done}/${total}\n`);
    },
    stop: () => {},
  };
}

function fail(message: string): never {
  process.stderr.write(`keyplane: ${message}\n`);
  process.exit(2);
}

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`keyplane: ${error.message}\n`);
  process.exit(1);
});
