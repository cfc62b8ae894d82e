/**
 * The rule set of variable names Keyplane may inject (service/providers/env-var-names.ts), shared by
 * the server's credential writes, GET …/environment and the CLI.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PROVIDERS } from "../../service/providers/catalog.js";
import { MAX_VARIABLE_NAME_LENGTH, REFUSED_VARIABLE_FAMILIES, refusedFamily, variableNameProblem } from "../../service/providers/env-var-names.js";
import { SETTING_VARIABLES } from "../../service/resolve/environment-variables.js";

// Names an attacker who can set a credential's variable names would reach for, with the family
// each must fall in.
const TAKEOVERS: Record<string, string> = {
  LD_PRELOAD: "LD_*",
  LD_LIBRARY_PATH: "LD_*",
  LD_AUDIT: "LD_*",
  DYLD_INSERT_LIBRARIES: "DYLD_*",
  GCONV_PATH: "GCONV_PATH",
  GLIBC_TUNABLES: "GLIBC_TUNABLES",
  NODE_OPTIONS: "NODE_*",
  NODE_PATH: "NODE_*",
  NODE_EXTRA_CA_CERTS: "NODE_*",
  NODE_TLS_REJECT_UNAUTHORIZED: "NODE_*",
  NPM_CONFIG_REGISTRY: "NPM_CONFIG_*",
  npm_config_script_shell: "NPM_CONFIG_*",
  YARN_YARN_PATH: "YARN_*",
  PYTHONPATH: "PYTHON*",
  PYTHONSTARTUP: "PYTHON*",
  PYTHONHOME: "PYTHON*",
  PIP_INDEX_URL: "PIP_*",
  UV_INDEX_URL: "UV_*",
  PERL5OPT: "PERL*",
  PERL5LIB: "PERL*",
  PERLLIB: "PERL*",
  RUBYOPT: "RUBY*",
  RUBYLIB: "RUBY*",
  GEM_HOME: "GEM_*",
  BUNDLE_GEMFILE: "BUNDLE_*",
  JAVA_TOOL_OPTIONS: "JAVA_*",
  _JAVA_OPTIONS: "_JAVA_*",
  JDK_JAVA_OPTIONS: "JDK_*",
  CLASSPATH: "CLASSPATH",
  MAVEN_OPTS: "MAVEN_*",
  DOTNET_STARTUP_HOOKS: "DOTNET_*",
  CORECLR_PROFILER_PATH: "CORECLR_*",
  GOFLAGS: "GOFLAGS",
  GOPROXY: "GOPROXY",
  RUSTC_WRAPPER: "RUST*",
  CARGO_BUILD_RUSTC_WRAPPER: "CARGO_*",
  PHPRC: "PHPRC",
  LUA_INIT: "LUA_*",
  R_PROFILE_USER: "R_*",
  OPENSSL_CONF: "OPENSSL_*",
  MAKEFLAGS: "MAKEFLAGS",
  CC: "CC",
  CFLAGS: "*FLAGS",
  ELIXIR_ERL_OPTIONS: "ELIXIR_*",
  BASH_ENV: "BASH_*",
  ENV: "ENV",
  SHELLOPTS: "SHELLOPTS",
  IFS: "IFS",
  PS4: "PS4",
  PROMPT_COMMAND: "PROMPT_COMMAND",
  ZDOTDIR: "*DIR",
  PATH: "*PATH",
  Path: "*PATH",
  PATHEXT: "PATHEXT",
  PSModulePath: "*PATH",
  HOME: "*HOME",
  SHELL: "SHELL",
  TMPDIR: "*DIR",
  TMP: "TMP",
  XDG_CONFIG_HOME: "XDG_*",
  LANG: "LANG",
  LC_ALL: "LC_*",
  TZ: "TZ",
  HTTP_PROXY: "*_PROXY",
  HTTPS_PROXY: "*_PROXY",
  https_proxy: "*_PROXY",
  ALL_PROXY: "*_PROXY",
  NO_PROXY: "*_PROXY",
  no_proxy: "*_PROXY",
  OPENAI_BASE_URL: "*_BASE_URL",
  ANTHROPIC_BASE_URL: "*_BASE_URL",
  OPENAI_API_BASE: "*_API_BASE",
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: "AWS_ENDPOINT_URL*",
  HF_ENDPOINT: "HF_ENDPOINT",
  DOCKER_HOST: "DOCKER_HOST",
  HOSTALIASES: "HOSTALIASES",
  SSL_CERT_FILE: "SSL_*",
  SSL_CERT_DIR: "SSL_*",
  SSLKEYLOGFILE: "SSLKEYLOGFILE",
  REQUESTS_CA_BUNDLE: "*_CA_BUNDLE",
  CURL_CA_BUNDLE: "*_CA_BUNDLE",
  AWS_CA_BUNDLE: "*_CA_BUNDLE",
  GIT_SSH_COMMAND: "GIT_*",
  GIT_CONFIG_GLOBAL: "GIT_*",
  GIT_ASKPASS: "GIT_*",
  SSH_ASKPASS: "*ASKPASS",
  EDITOR: "*EDITOR",
  KUBE_EDITOR: "*EDITOR",
  VISUAL: "VISUAL",
  PAGER: "*PAGER",
  MANPAGER: "*PAGER",
  LESSOPEN: "LESSOPEN",
  BROWSER: "BROWSER",
  KEYPLANE_TOKEN: "KEYPLANE_*",
  KEYPLANE_ENDPOINT: "KEYPLANE_*",
  keyplane_endpoint: "KEYPLANE_*",
};

describe("injectable variable names", () => {
  it("refuses the names that take over a process, case-insensitively, naming the family and why", () => {
    for (const [name, family] of Object.entries(TAKEOVERS)) {
      expect(refusedFamily(name), name).toBe(family);
      expect(variableNameProblem(name), name).toMatch(new RegExp(`^${name} is refused \\(${family.replace(/\*/g, "\\*")}\\): it `));
    }
  });

  it("lets through every name Keyplane exports itself: catalog defaults, catalog fields and settings variables", () => {
    const own = [
      ...PROVIDERS.map((p) => p.default_env_var),
      ...PROVIDERS.flatMap((p) => p.secret_fields.map((f) => f.env_var).filter((n) => n !== null)),
      ...Object.values(SETTING_VARIABLES).flatMap((m) => Object.values(m)),
    ];
    expect(own).toContain("AZURE_OPENAI_ENDPOINT");
    for (const name of own) expect(variableNameProblem(name), name).toBeNull();
  });

  it("lets through ordinary secret names", () => {
    for (const name of [
      "DATABASE_URL",
      "REDIS_URL",
      "GITHUB_TOKEN",
      "GH_TOKEN",
      "NPM_TOKEN",
      "HF_TOKEN",
      "SMTP_HOST",
      "SMTP_PASSWORD",
      "STRIPE_SECRET_KEY",
      "SSH_PRIVATE_KEY",
      "SLACK_BOT_TOKEN",
      "TRICKY_SECRET",
      "MY_SERVICE_TOKEN_URL",
      "a",
    ]) {
      expect(variableNameProblem(name), name).toBeNull();
    }
  });

  it("refuses what is not a variable name, and names longer than the limit", () => {
    for (const name of ["", "1ABC", "A-B", "A B", "A=B", "A;touch x", "A\nB", "Ä", "A\u0000", "$(id)"]) {
      expect(variableNameProblem(name), JSON.stringify(name)).toMatch(/is not a valid variable name/);
    }
    expect(variableNameProblem(42)).toMatch(/must be a string/);
    expect(variableNameProblem(`A${"B".repeat(MAX_VARIABLE_NAME_LENGTH - 1)}`)).toBeNull();
    expect(variableNameProblem(`A${"B".repeat(MAX_VARIABLE_NAME_LENGTH)}`)).toMatch(/is not a valid variable name/);
  });

  it("shows a hostile name escaped and cut short, never raw", () => {
    const problem = variableNameProblem(`\u001b]0;pwned\u0007${"X".repeat(500)}`)!;
    expect(problem).not.toContain("\u001b");
    expect(problem).not.toContain("\u0007");
    expect(problem.length).toBeLessThan(250);
  });

  it("states every family as an upper-case name, a NAME* prefix or a *NAME suffix", () => {
    for (const { pattern } of REFUSED_VARIABLE_FAMILIES) expect(pattern).toMatch(/^\*?[A-Z0-9_]+\*?$/);
    for (const { pattern } of REFUSED_VARIABLE_FAMILIES) expect(pattern.startsWith("*") && pattern.endsWith("*")).toBe(false);
  });

  it("the README's table of refused names lists every family", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const table = readme.slice(readme.indexOf("| refused because the variable |"), readme.indexOf("Real secrets are named after"));
    const listed = [...table.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    expect(listed.sort()).toEqual(REFUSED_VARIABLE_FAMILIES.map((f) => f.pattern).sort());
  });
});
