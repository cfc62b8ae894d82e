// Which certificate authorities the plugin trusts for HTTPS calls to the Keyplane service: what
// the engine that started it trusts. Go programs (the engines, and Go providers) read
// SSL_CERT_FILE instead of the system bundle; Node reads NODE_EXTRA_CA_CERTS at start-up by itself
// (the packaged executable too) but ignores SSL_CERT_FILE. The provider's `ca_file` adds a bundle
// of its own. The plugin process serves one provider block, so the process default is the place:
// Node's fetch takes no per-call trust store.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import * as tls from "node:tls";
import { diag, type Diagnostic } from "../protocol/index.js";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificatesIn(path: string): string[] | { error: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return { error: `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})` };
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  return certificates.length > 0 ? certificates : { error: `${path} holds no PEM certificate` };
}

/**
 * Sets the process's trusted authorities from SSL_CERT_FILE (replacing Node's bundled ones, as Go
 * replaces the system's) and `caFile` (added), keeping NODE_EXTRA_CA_CERTS. Unchanged when
 * neither is set. Diagnostics name the setting whose file is unusable.
 */
export function trustConfiguredAuthorities(caFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Diagnostic[] {
  const sslCertFile = env.SSL_CERT_FILE?.trim() || undefined;
  if (!sslCertFile && !caFile) return [];
  // The packaged executable carries a Node that has them; the development launcher runs whichever
  // Node is first on PATH.
  if (typeof tls.setDefaultCACertificates !== "function") {
    const setting = caFile ? "ca_file" : "SSL_CERT_FILE";
    return [
      diag.error(
        `Node ${process.versions.node} cannot use ${setting}`,
        `${setting} needs Node 22.19 or later (24.5 or later on Node 24) to set the authorities the plugin trusts; this plugin runs on Node ${process.versions.node}. Use the packaged executable (npm run build:provider), or put a newer Node first on PATH.`,
        caFile ? ["ca_file"] : undefined,
      ),
    ];
  }
  const diagnostics: Diagnostic[] = [];
  let trusted = sslCertFile ? [] : tls.getCACertificates("default");
  if (sslCertFile) {
    const found = certificatesIn(sslCertFile);
    if (Array.isArray(found)) trusted = [...found, ...tls.getCACertificates("extra")];
    else diagnostics.push(diag.error("Unusable SSL_CERT_FILE", `SSL_CERT_FILE names a certificate bundle the plugin cannot use: ${found.error}.`));
  }
  if (caFile) {
    const found = certificatesIn(caFile);
    if (Array.isArray(found)) trusted = [...trusted, ...found];
    else diagnostics.push(diag.error("Unusable ca_file", `ca_file names a certificate bundle the plugin cannot use: ${found.error}.`, ["ca_file"]));
  }
  if (diagnostics.length === 0) tls.setDefaultCACertificates(trusted);
  return diagnostics;
}

/**
 * Subject and issuer of the certificate the server at `endpoint` presents, read over a connection
 * that verifies nothing and sends nothing: to name the certificate a verification refused, so the
 * user knows which authority to trust. null when it cannot be read.
 */
export function presentedCertificate(endpoint: string, timeoutMs = 5000): Promise<{ subject: string; issuer: string } | null> {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port: Number(url.port || 443), servername: isIP(host) ? undefined : host, rejectUnauthorized: false });
    const done = (found: { subject: string; issuer: string } | null) => {
      socket.destroy();
      resolve(found);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once("error", () => done(null));
    socket.once("secureConnect", () => {
      const certificate = socket.getPeerX509Certificate();
      done(certificate ? { subject: oneLine(certificate.subject), issuer: oneLine(certificate.issuer) } : null);
    });
  });
}

/** A distinguished name as X509Certificate gives it (one attribute a line) on one line. */
function oneLine(name: string): string {
  return name.split("\n").join(", ");
}
