#!/usr/bin/env node
import { Command, Option } from "commander";
import { readFile } from "node:fs/promises";
import cliProgress from "cli-progress";
import { loadConfig } from "../config.js";
import { openDb, migrate } from "../db/index.js";
import { assertKeyringCoversStoredKeys, loadMasterKeyring, MasterKey } from "../crypto/index.js";
import { ROLES, createToken, listTokens, revokeActiveToken } from "../tokens/token-service.js";
import type { Role } from "../contract-types.js";
import { organizationExists } from "../organizations/organization-dal.js";
import { DomainError, ValidationError } from "../errors.js";
import { MAX_LIMIT } from "../http/pagination.js";
import { parseComponent } from "../http/validation.js";
import { parseTimestamp } from "../contract/timestamps.js";
import type { Schemas } from "../contract-types.js";
import { openAuditChain, verifyOrganizationChain } from "../audit/audit-service.js";
import { nextDevelopmentKey, promoteDevelopmentKey, rewrapAllDataKeys, type RewrapProgress } from "./master-key-rotation.js";
import { registerRunCommand } from "./run.js";
import { registerEnvCommand } from "./env.js";
import { registerProviderCommand } from "./provider.js";
import { domainErrorText } from "./domain-error-text.js";

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
    const expiresAt = opts.expiresAt === undefined ? null : dateTimeOption("--expires-at", opts.expiresAt);
    const config = loadConfig();
    const db = await openAuditedDb(config);
    try {
      const created = await db.transaction(async (tx) => {
        if (opts.org && !(await organizationExists(tx, opts.org))) fail(`no organization ${opts.org}`);
        return createToken(tx, { organizationId: opts.org ?? null, role: opts.role, name: opts.name, expiresAt }, { tokenId: null, role: null }, "cli");
      });
      process.stderr.write(`created token ${created.record.id} (${opts.role}); it is shown only this once:\n`);
      process.stdout.write(`${created.token}\n`);
    } finally {
      await db.close();
    }
  });

token
  .command("list")
  .description("list active tokens as JSON, metadata only (platform-admin tokens, or an organization's with --org)")
  .option("--org <id>", "organization id (omit for platform-admin tokens)")
  .action(async (opts: { org?: string }) => {
    const config = loadConfig();
    const db = await openDb(config.database);
    try {
      await migrate(db);
      const tokens: Schemas["Token"][] = [];
      // The last id shown: the page goes on past it in the list's own order (newest first for an organization's tokens).
      for (let lastId: string | undefined; ;) {
        const page = await listTokens(db, opts.org ?? null, lastId, MAX_LIMIT);
        tokens.push(...page.slice(0, MAX_LIMIT));
        if (page.length <= MAX_LIMIT) break;
        lastId = page[MAX_LIMIT - 1].id;
      }
      process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
    } finally {
      await db.close();
    }
  });

token
  .command("revoke")
  .description("revoke a token by id (it stops working at once; running services drop it within seconds)")
  .argument("<id>", "token id (tok_…)")
  .action(async (id: string) => {
    const config = loadConfig();
    const db = await openAuditedDb(config);
    try {
      const revoked = await db.transaction((tx) => revokeActiveToken(tx, id, { tokenId: null, role: null }, "cli"));
      if (!revoked) fail(`no active token ${id}`);
      process.stderr.write(`revoked token ${id} (${revoked.role}${revoked.organization_id ? ` of ${revoked.organization_id}` : ""})\n`);
    } finally {
      await db.close();
    }
  });

program
  .command("rotate-master-key")
  .description(
    "re-wrap every data key and the audit key under the current master key (KEYPLANE_MASTER_KEY or KEYPLANE_MASTER_KEY_FILE), " +
      "unwrapping with KEYPLANE_MASTER_KEY_PREVIOUS; with the development key, generate the next key and switch to it. Resumable: run again after an interruption",
  )
  .option("--new-key-file <path>", "re-wrap under the key in this file (base64 of 32 bytes) instead of the current one")
  .option("--batch-size <n>", "rows per transaction", (v) => Number.parseInt(v, 10), 200)
  .action(async (opts: { newKeyFile?: string; batchSize: number }) => {
    const config = loadConfig();
    const loaded = await loadMasterKeyring(config);
    const development = loaded.source === "data-dir" && !opts.newKeyFile;
    const newKey = opts.newKeyFile
      ? MasterKey.fromBase64((await readFile(opts.newKeyFile, "utf8")).trim())
      : development
        ? (await nextDevelopmentKey(config.dataDir)).key
        : loaded.keyring.current;
    const keyring = loaded.keyring.withCurrent(newKey);
    const db = await openDb(config.database);
    try {
      await migrate(db);
      await assertKeyringCoversStoredKeys(db, keyring);
      await openAuditChain(db, keyring);
      const progress = progressReporter();
      const result = await rewrapAllDataKeys(db, keyring, newKey, progress.update, opts.batchSize);
      progress.stop();
      if (development) await promoteDevelopmentKey(config.dataDir);
      process.stderr.write(`re-wrapped ${result.done} data keys under master key ${newKey.id}\n`);
      if (newKey.id !== loaded.keyring.current.id && !development) {
        process.stderr.write("now make that key the current one of every instance (KEYPLANE_MASTER_KEY or KEYPLANE_MASTER_KEY_FILE)\n");
      } else if (!development && keyring.ids().length > 1) {
        process.stderr.write("the other keys now wrap nothing: remove them from KEYPLANE_MASTER_KEY_PREVIOUS at the next restart\n");
      }
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
    const db = await openAuditedDb(config);
    try {
      const result = await verifyOrganizationChain(db, opts.org ?? null);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      if (!result.valid) process.exitCode = 1;
    } finally {
      await db.close();
    }
  });

/** A date-time option read as the API reads one: the contract's Timestamp, normalised to UTC. */
function dateTimeOption(option: string, text: string): string {
  const instant = parseTimestamp(parseComponent("Timestamp", text, option));
  if (instant === null) throw new ValidationError([{ path: option, message: "must be a date-time between the years 0001 and 9999 in UTC" }]);
  return instant;
}

/** The database, migrated, with its audit key loaded: the audit events a command writes or checks are keyed. */
async function openAuditedDb(config: ReturnType<typeof loadConfig>) {
  const { keyring } = await loadMasterKeyring(config);
  const db = await openDb(config.database);
  try {
    await migrate(db);
    await openAuditChain(db, keyring);
    return db;
  } catch (error) {
    await db.close();
    throw error;
  }
}

registerRunCommand(program);
registerEnvCommand(program);
registerProviderCommand(program);

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

// The command whose action runs: its options are what a refused field can be printed as.
let running: Command | undefined;
program.hook("preAction", (_program, actionCommand) => {
  running = actionCommand;
});

program.parseAsync(process.argv).catch((error: Error) => {
  if (error instanceof DomainError) fail(domainErrorText(error, running));
  process.stderr.write(`keyplane: ${error.message}\n`);
  process.exit(1);
});
