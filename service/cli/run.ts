// `keyplane run -- CMD ARGS…`: run a command with the resolved credentials in its environment.
// The values go straight from the HTTP answer into the child's environment; nothing is printed.
// The whole answer is refused (exit 125, the command never starts; with --watch a later answer
// is refused and the command keeps its values) when it holds a variable name that could take over
// the child (LD_PRELOAD, NODE_OPTIONS, PATH…).
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import type { Command } from "commander";
import { addConnectionOptions, CliError, environmentSource, type ConnectionOptions, type EnvironmentAnswer } from "./env.js";
import { watchEnvironment } from "./environment-watch.js";

/** Exit codes of `keyplane run` itself, as `env(1)` and `docker run` use them. */
export const RUN_FAILED = 125;
export const COMMAND_NOT_EXECUTABLE = 126;
export const COMMAND_NOT_FOUND = 127;

const FORWARDED_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

/**
 * The child's environment: ours plus the variables. Without `preserveEnv` Keyplane's values
 * replace variables of the same name; with it, variables already set (even to "") are kept and
 * Keyplane only fills in the missing ones. KEYPLANE_TOKEN and the identity token settings are
 * removed: the child gets the keys it needs, not the power to resolve every other key of the
 * organization.
 */
export function childEnvironment(parent: NodeJS.ProcessEnv, variables: Record<string, string>, preserveEnv: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...parent };
  for (const name of ["KEYPLANE_TOKEN", "KEYPLANE_IDENTITY_TOKEN_FILE", "KEYPLANE_IDENTITY_BINDING"]) delete env[name];
  for (const [name, value] of Object.entries(variables)) {
    if (preserveEnv && parent[name] !== undefined) continue;
    env[name] = value;
  }
  return env;
}

type ChildResult = { code: number } | { signal: NodeJS.Signals };

interface RunningCommand {
  child: ChildProcess;
  /** How the command ended: its exit code, or the signal that killed it. */
  exited: Promise<ChildResult>;
}

/**
 * Starts the command. While it runs, the signals we receive are passed on to it and do not stop us.
 */
function startCommand(command: string[], env: NodeJS.ProcessEnv): RunningCommand {
  const child = spawn(command[0], command.slice(1), { env, stdio: "inherit" });
  const exited = new Promise<ChildResult>((settle) => {
    // At a terminal, Ctrl-C and Ctrl-\ already reach the child (the terminal signals the whole
    // foreground process group); passing them on as well would deliver them twice.
    const fromTerminal = new Set<NodeJS.Signals>(process.stdin.isTTY ? ["SIGINT", "SIGQUIT"] : []);
    const forward = (signal: NodeJS.Signals) => {
      if (fromTerminal.has(signal)) return;
      if (isRunning(child)) child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const stopForwarding = () => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };
    child.once("error", (error: NodeJS.ErrnoException) => {
      stopForwarding();
      const code = error.code === "ENOENT" ? COMMAND_NOT_FOUND : error.code === "EACCES" ? COMMAND_NOT_EXECUTABLE : RUN_FAILED;
      process.stderr.write(`keyplane: cannot run ${JSON.stringify(command[0])}: ${error.code ?? "spawn failed"}\n`);
      settle({ code });
    });
    child.once("exit", (code, signal) => {
      stopForwarding();
      settle(signal ? { signal } : { code: code ?? RUN_FAILED });
    });
  });
  return { child, exited };
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Runs the command and settles with how to exit: its exit code, or the signal that killed it. */
export function runCommand(command: string[], env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return startCommand(command, env).exited;
}

/** SIGTERM, then SIGKILL once the grace period is over; settles when the command has exited. */
async function stopCommand(running: RunningCommand, graceMs: number): Promise<void> {
  if (isRunning(running.child)) running.child.kill("SIGTERM");
  const kill = setTimeout(() => running.child.kill("SIGKILL"), graceMs);
  await running.exited;
  clearTimeout(kill);
}

interface WatchRunOptions {
  source: ReturnType<typeof environmentSource>;
  first: EnvironmentAnswer;
  environmentOf: (variables: Record<string, string>) => NodeJS.ProcessEnv;
  /** Sent to the command on a change instead of restarting it. */
  signal?: NodeJS.Signals;
  graceMs: number;
}

/**
 * Runs the command and, whenever the variables change, restarts it with the new ones (or sends it
 * `signal`). Settles with how the command ended when it ends on its own.
 */
async function runWatching(command: string[], { source, first, environmentOf, signal, graceMs }: WatchRunOptions): Promise<ChildResult> {
  let current = startCommand(command, environmentOf(first.variables));
  let replacing: Promise<void> | undefined;
  // Asked to stop (and passed on to the command) while a restart was under way: no new start.
  let stopRequested = false;
  const requestStop = () => (stopRequested = true);
  for (const stop of STOP_SIGNALS) process.on(stop, requestStop);
  const report = (message: string) => process.stderr.write(`keyplane: ${message}\n`);
  const stopWatching = new AbortController();
  const watching = watchEnvironment({
    source,
    etag: first.etag,
    async onChange(variables) {
      if (signal) {
        report(`the variables changed; sending ${signal} to the command`);
        if (isRunning(current.child)) current.child.kill(signal);
        return;
      }
      report("the variables changed; restarting the command");
      const previous = current;
      replacing = stopCommand(previous, graceMs).then(() => {
        if (!stopRequested) current = startCommand(command, environmentOf(variables));
      });
      await replacing;
      replacing = undefined;
    },
    report,
    signal: stopWatching.signal,
  });
  for (;;) {
    const running = current;
    const result = await running.exited;
    // Stopped by us for a restart: follow its successor.
    if (replacing) await replacing;
    if (current !== running) continue;
    for (const stop of STOP_SIGNALS) process.off(stop, requestStop);
    stopWatching.abort();
    await watching;
    return result;
  }
}

/** Ends this process the way the child ended: same code, or killed by the same signal. */
function exitLike(result: ChildResult): never {
  if ("signal" in result) {
    process.kill(process.pid, result.signal);
    // Reached only for signals that do not terminate by default; the shell convention then.
    process.exit(128 + (constants.signals[result.signal] ?? 0));
  }
  process.exit(result.code);
}

interface RunOptions extends ConnectionOptions {
  preserveEnv: boolean;
  watch: boolean;
  signal?: string;
  gracePeriod: string;
}

export function registerRunCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("run")
      .description("run a command with the resolved credentials injected as environment variables")
      .usage(
        "--org ID [--identity-token-file PATH] [--project ID] [--environment E] [--preserve-env] [--watch [--signal SIG] [--grace-period S]] -- CMD [ARGS...]",
      ),
  )
    .option("--preserve-env", "keep variables already set in the environment instead of overriding them with Keyplane's values", false)
    .option("--watch", "keep watching the variables and restart the command (SIGTERM, then SIGKILL after the grace period) when they change", false)
    .option(
      "--signal <signal>",
      "with --watch: send this signal on a change instead of restarting (for commands that re-read a file or re-exec themselves: a running process's environment cannot change)",
    )
    .option("--grace-period <seconds>", "with --watch: how long a restarted command may take to exit after SIGTERM", "10")
    .argument("<command...>", "the command to run and its arguments (after --)")
    .passThroughOptions()
    .action(async (command: string[], opts: RunOptions) => {
      let first: EnvironmentAnswer;
      let source: ReturnType<typeof environmentSource>;
      let watch: { signal?: NodeJS.Signals; graceMs: number } | undefined;
      try {
        watch = watchOptions(opts);
        source = environmentSource(opts);
        first = (await source())!;
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        process.stderr.write(`keyplane: ${error.message}\n`);
        process.exit(RUN_FAILED);
      }
      const environmentOf = (variables: Record<string, string>) => childEnvironment(process.env, variables, opts.preserveEnv);
      if (!watch) exitLike(await runCommand(command, environmentOf(first.variables)));
      exitLike(await runWatching(command, { source, first, environmentOf, ...watch }));
    });
}

function watchOptions(opts: RunOptions): { signal?: NodeJS.Signals; graceMs: number } | undefined {
  if (!opts.watch) {
    if (opts.signal !== undefined) throw new CliError("--signal applies only with --watch");
    return undefined;
  }
  const graceSeconds = Number(opts.gracePeriod);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new CliError("--grace-period must be a number of seconds");
  if (opts.signal === undefined) return { graceMs: graceSeconds * 1000 };
  const signal = (opts.signal.startsWith("SIG") ? opts.signal : `SIG${opts.signal}`).toUpperCase() as NodeJS.Signals;
  if (!(signal in constants.signals)) throw new CliError(`--signal ${JSON.stringify(opts.signal)} is not a signal name (e.g. SIGHUP)`);
  return { signal, graceMs: graceSeconds * 1000 };
}
