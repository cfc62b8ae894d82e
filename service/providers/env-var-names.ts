// Which environment variable names Keyplane may inject into a workload. The server refuses the
// others when a credential is written and leaves them out of GET …/environment; `keyplane run` and
// `keyplane env` check again before injecting or printing, so neither side trusts the other.
//
// A credential's variables are set by an organization admin and then injected into every process
// that `keyplane run` starts. A name the workload's runtime, linker, shell or tools read as
// configuration would let that admin run code in those processes (LD_PRELOAD, NODE_OPTIONS,
// BASH_ENV), point them at other programs (PATH, EDITOR), or send their traffic — other secrets
// included — through a host of the admin's choosing (HTTPS_PROXY, OPENAI_BASE_URL, a CA bundle).
// Secrets are named after the service they unlock, so refusing whole families costs no real
// credential name. The list is a deny list of families, kept in this one module.

export const MAX_VARIABLE_NAME_LENGTH = 255;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a refused family would let the writer of the name do to the workload. */
const LOADS_CODE = "changes which code programs load or run";
const FINDS_PROGRAMS = "changes where programs find binaries, libraries or configuration";
const ROUTES_TRAFFIC = "changes where programs send traffic or which certificates they trust";
const SHELL = "is read by shells and the tools they start";
const KEYPLANE = "configures Keyplane itself";

/**
 * `NAME` is one name, `NAME*` a prefix, `*NAME` a suffix. Matched on the upper-cased name:
 * Windows environments are case-insensitive and the proxy family is read in lower case too
 * (`https_proxy`), so `Path` and `http_proxy` are refused like `PATH` and `HTTP_PROXY`.
 */
export const REFUSED_VARIABLE_FAMILIES: readonly { pattern: string; reason: string }[] = [
  // Dynamic linkers and the C library (glibc's list of variables it ignores for setuid programs).
  ...family(LOADS_CODE, ["LD_*", "LD", "DYLD_*", "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "MALLOC_*", "LOCPATH", "NLSPATH", "NIS_PATH"]),
  // Interpreters and runtimes: options and module paths that load code at start-up.
  ...family(LOADS_CODE, [
    "NODE_*",
    "UV_*",
    "NPM_CONFIG_*",
    "YARN_*",
    "COREPACK_*",
    "BUN_*",
    "DENO_*",
    "ELECTRON_*",
    "PYTHON*",
    "PIP_*",
    "PIPX_*",
    "CONDA_*",
    "VIRTUAL_ENV",
    "PERL*",
    "RUBY*",
    "GEM_*",
    "BUNDLE_*",
    "BUNDLER_*",
    "JAVA_*",
    "_JAVA_*",
    "JDK_*",
    "CLASSPATH",
    "MAVEN_*",
    "GRADLE_*",
    "SBT_*",
    "ANT_*",
    "DOTNET_*",
    "CORECLR_*",
    "COMPLUS_*",
    "COREHOST_*",
    "GOFLAGS",
    "GOPROXY",
    "GOSUMDB",
    "GONOSUMDB",
    "GONOPROXY",
    "GOPRIVATE",
    "GOINSECURE",
    "GOTOOLCHAIN",
    "GOENV",
    "GOROOT",
    "GOBIN",
    "GOEXPERIMENT",
    "GODEBUG",
    "GOWORK",
    "CGO_*",
    "RUST*",
    "CARGO_*",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "LUA_*",
    "TCLLIBPATH",
    "ERL_*",
    "ELIXIR_*",
    "R_*",
    "JULIA_*",
    "OCAML*",
    "OPENSSL_*",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKEFILES",
    "GNUMAKEFLAGS",
    "CC",
    "CXX",
    "CPP",
    "AR",
    "AS",
    "FC",
    "*_OPTIONS",
    "*_OPTS",
    "*FLAGS",
    "__COMPAT_LAYER",
  ]),
  // Search paths, home and configuration directories, temporary directories, files read as settings.
  ...family(FINDS_PROGRAMS, [
    "*PATH",
    "PATHEXT",
    "*HOME",
    "*DIR",
    "*DIRS",
    "*_FILE",
    "*_CONFIG",
    "*_CONF",
    "*RC",
    "XDG_*",
    "TMP",
    "TEMP",
    "TZ",
    "TERM",
    "TERMINFO*",
    "TERMCAP",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "COMSPEC",
    "SYSTEMROOT",
    "WINDIR",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
    "PROGRAMDATA",
    "PROGRAMFILES*",
    "COMMONPROGRAMFILES*",
    "KUBECONFIG",
    "AWS_PROFILE",
  ]),
  // Proxies, base URLs of SDKs and tools, name resolution, certificate trust and TLS key logs.
  ...family(ROUTES_TRAFFIC, [
    "*_PROXY",
    "PROXY",
    "*_BASE_URL",
    "*_API_BASE",
    "*_ENDPOINT_URL",
    "AWS_ENDPOINT_URL*",
    "HF_ENDPOINT",
    "OLLAMA_HOST",
    "DOCKER_HOST",
    "GH_HOST",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "RESOLV_HOST_CONF",
    "SSL_*",
    "SSLKEYLOGFILE",
    "*_CA_BUNDLE",
    "*_CA_CERTS",
    "*_CA_CERT",
    "*_TLS_VERIFY",
    "*_SSL_VERIFY",
    "*_NO_VERIFY",
    "*_INSECURE",
    "*_REJECT_UNAUTHORIZED",
    "DBUS_*",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "SSH_AUTH_SOCK",
  ]),
  // Shells and the commands tools start on their own (editors, pagers, password prompts).
  ...family(SHELL, [
    "BASH_*",
    "BASHOPTS",
    "SHELLOPTS",
    "ENV",
    "SHELL",
    "IFS",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT",
    "PROMPT_COMMAND",
    "GLOBIGNORE",
    "HISTFILE",
    "POSIXLY_CORRECT",
    "PWD",
    "OLDPWD",
    "UID",
    "EUID",
    "PPID",
    "SHLVL",
    "OPTIND",
    "OPTARG",
    "GIT_*",
    "*EDITOR",
    "VISUAL",
    "*PAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "BROWSER",
    "*ASKPASS",
    "*ASKPASS_REQUIRE",
    "SUDO_*",
  ]),
  ...family(KEYPLANE, ["KEYPLANE_*"]),
];

function family(reason: string, patterns: string[]): { pattern: string; reason: string }[] {
  return patterns.map((pattern) => ({ pattern, reason }));
}

const EXACT = new Set<string>();
const PREFIXES: string[] = [];
const SUFFIXES: string[] = [];
for (const { pattern } of REFUSED_VARIABLE_FAMILIES) {
  if (pattern.endsWith("*")) PREFIXES.push(pattern.slice(0, -1));
  else if (pattern.startsWith("*")) SUFFIXES.push(pattern.slice(1));
  else EXACT.add(pattern);
}
const REASON = new Map(REFUSED_VARIABLE_FAMILIES.map((f) => [f.pattern, f.reason]));

/** The refused family a syntactically valid name belongs to, e.g. `LD_*` for LD_PRELOAD. */
export function refusedFamily(name: string): string | null {
  const upper = name.toUpperCase();
  if (EXACT.has(upper)) return upper;
  const prefix = PREFIXES.find((p) => upper.startsWith(p));
  if (prefix !== undefined) return `${prefix}*`;
  const suffix = SUFFIXES.find((s) => upper.endsWith(s));
  return suffix === undefined ? null : `*${suffix}`;
}

/**
 * Why `name` may not be injected, or null when it may. The message names the variable (names are
 * not secret) but not its value; a name that is not one is shown JSON-escaped and cut short, so a
 * hostile server cannot put terminal escapes on the CLI's stderr.
 */
export function variableNameProblem(name: unknown): string | null {
  if (typeof name !== "string") return "a variable name must be a string";
  if (name.length === 0 || name.length > MAX_VARIABLE_NAME_LENGTH || !VARIABLE_NAME.test(name)) {
    return `${JSON.stringify(name.slice(0, 64))}${name.length > 64 ? "…" : ""} is not a valid variable name (letters, digits and "_", not starting with a digit, at most ${MAX_VARIABLE_NAME_LENGTH} characters)`;
  }
  const pattern = refusedFamily(name);
  if (pattern) return `${name} is refused (${pattern}): it ${REASON.get(pattern)}`;
  return null;
}
