// The example deployed by a CDK command line (cdktf-cli, or cdktn-cli, its CDK Terrain fork, which
// keeps cdktf.json, the commands and their flags): `synth`, `deploy`, `destroy` with
// TERRAFORM_BINARY_NAME against a real service, checked like every other deploy of the example and
// scanned for the keys and the token afterwards.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { assertNoSecret } from "../e2e/support/secrets.js";
import type { E2eService } from "../support/service.js";
import type { Engine } from "../e2e/support/engines.js";
import { exampleKeys, exampleVars, expectDeployed, expectDestroyed, providerEnv } from "./deploy.js";
import { EXAMPLE_STACK, cleanEnv, run, writeMirrorCliConfig, type ProcessResult } from "./support.js";

export interface CliDeploy {
  /** For the timing line, e.g. "cdktf-cli". */
  label: string;
  /** The command line and the arguments before its subcommand, e.g. [".../.bin/cdktf"]. */
  cli: [string, ...string[]];
  /** Holds cdktf.json (whose app synthesizes the example); the stack's state stays here. */
  project: string;
  /** Gets the engine's CLI configuration; scanned for secrets with everything under it. */
  root: string;
  engine: Engine;
  service: E2eService;
}

export async function deployExampleWithCli({ label, cli: [command, ...prefix], project, root, engine, service }: CliDeploy): Promise<void> {
  const started = performance.now();
  const org = await service.seedOrganization();
  const keys = exampleKeys();
  const env = cleanEnv({
    TERRAFORM_BINARY_NAME: engine.bin,
    TF_CLI_CONFIG_FILE: writeMirrorCliConfig(root),
    TF_IN_AUTOMATION: "1",
    CI: "1",
    ...providerEnv(service.url, org),
    ...Object.fromEntries(Object.entries(exampleVars(keys)).map(([k, v]) => [`TF_VAR_${k}`, v])),
  });
  const transcript: ProcessResult[] = [];
  const cdk = async (...args: string[]) => {
    const result = await run(command, [...prefix, ...args], { cwd: project, env, timeoutMs: 240_000 });
    transcript.push(result);
    return result;
  };

  const synth = await cdk("synth");
  expect(synth.code, synth.out).toBe(0);
  const config = JSON.parse(readFileSync(join(project, "cdktf.out/stacks", EXAMPLE_STACK, "cdk.tf.json"), "utf8"));
  expect(Object.keys(config.resource.keyplane_credential).sort()).toEqual(["anthropic", "openai"]);

  const outputsFile = join(project, "outputs.json");
  // --skip-provider-lock: the CLI would otherwise run `providers lock -platform=linux_amd64`, which asks
  // the public registry, where keyplane/keyplane is not published (init already locked it from the mirror).
  const deploy = await cdk("deploy", EXAMPLE_STACK, "--auto-approve", "--skip-provider-lock", "--outputs-file", outputsFile);
  expect(deploy.code, deploy.out).toBe(0);
  const outputs = JSON.parse(readFileSync(outputsFile, "utf8"))[EXAMPLE_STACK];
  await expectDeployed(org, keys, outputs);

  const destroy = await cdk("destroy", EXAMPLE_STACK, "--auto-approve", "--skip-provider-lock");
  expect(destroy.code, destroy.out).toBe(0);
  await expectDestroyed(org);

  assertNoSecret([keys.openai, keys.anthropic, org.tokens.admin], root, [...transcript.map((r) => r.out), service.logText()]);
  console.log(
    `[cdktf e2e] ${engine.version}: ${label} synth ${Math.round(synth.ms)} ms, deploy ${Math.round(deploy.ms)} ms, ` +
      `destroy ${Math.round(destroy.ms)} ms (total ${Math.round(performance.now() - started)} ms)`,
  );
}
