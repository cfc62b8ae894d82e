// `keyplane run -- CMD ARGS…`: run a command with the resolved credentials in its environment.
// The values go straight from the HTTP answer into the child's environment; nothing is printed.
// fetchEnvironment refuses the whole answer (exit 125, the command never starts) when it holds a
// variable name that could take over the child (LD_PRELOAD, NODE_OPTIONS, PATH…).
import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Command } from "commander";
import { addConnectionOptions, CliError, fetchEnvironment, type ConnectionOptions } from "./env.js";

/** Exit codes of `keyplane run` itself, as `env(1)` and `docker run` use them. */
export const RUN_FAILED = 125;
export const COMMAND_NOT_EXECUTABLE = 126;
export const COMMAND_NOT_FOUND = 127;

const FORWARDED_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/**
 * The child's environment: ours plus the variables. Without `preserveEnv` Keyplane's values
 * replace variables of the same name; with it, variables already set (even to "") are kept and
 * Keyplane only fills in the missing ones. KEYPLANE_TOKEN is removed: the child gets the keys it
 * needs, not the power to resolve every other key of the organization.
 */
export function childEnvironment(parent: NodeJS.ProcessEnv, variables: Record<string, string>, preserveEnv: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...parent };
  delete env.KEYPLANE_TOKEN;
  for (const [name, value] of Object.entries(variables)) {
    if (preserveEnv && parent[name] !== undefined) continue;
    env[name] = value;
  }
  return env;
}

/**
 * Runs the command and settles with how to exit: its exit code, or the signal that killed it.
 * While it runs, the signals we receive are passed on to it and do not stop us.
 */
export function runCommand(command: string[], env: NodeJS.ProcessEnv): Promise<{ code: number } | { signal: NodeJS.Signals }> {
  return new Promise((settle) => {
    const child = spawn(command[0], command.slice(1), { env, stdio: "inherit" });
    // At a terminal, Ctrl-C and Ctrl-\ already reach the child (the terminal signals the whole
    // foreground process group); passing them on as well would deliver them twice.
    const fromTerminal = new Set<NodeJS.Signals>(process.stdin.isTTY ? ["SIGINT", "SIGQUIT"] : []);
    const forward = (signal: NodeJS.Signals) => {
      if (fromTerminal.has(signal)) return;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
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
}

/** Ends this process the way the child ended: same code, or killed by the same signal. */
function exitLike(result: { code: number } | { signal: NodeJS.Signals }): never {
  if ("signal" in result) {
    process.kill(process.pid, result.signal);
    // Reached only for signals that do not terminate by default; the shell convention then.
    process.exit(128 + (constants.signals[result.signal] ?? 0));
  }
  process.exit(result.code);
}

export function registerRunCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("run")
      .description("run a command with the resolved credentials injected as environment variables")
      .usage("--org ID [--project ID] [--environment E] [--preserve-env] -- CMD [ARGS...]"),
  )
    .option("--preserve-env", "keep variables already set in the environment instead of overriding them with Keyplane's values", false)
    .argument("<command...>", "the command to run and its arguments (after --)")
    .passThroughOptions()
    .action(async (command: string[], opts: ConnectionOptions & { preserveEnv: boolean }) => {
      let variables: Record<string, string>;
      try {
        variables = await fetchEnvironment(opts);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        process.stderr.write(`keyplane: ${error.message}\n`);
        process.exit(RUN_FAILED);
      }
      exitLike(await runCommand(command, childEnvironment(process.env, variables, opts.preserveEnv)));
    });
}
