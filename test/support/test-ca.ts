// A certificate authority of the test's own and a server certificate it issues, for a service that
// terminates TLS: what an organization's private CA is to a real deployment. node-forge builds the
// certificates; node:crypto makes the RSA keys (forge's own key generation is slow pure JS).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import forge from "node-forge";

interface TestCa {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function rsaKeys(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString()),
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: "pkcs1", format: "pem" }).toString()),
    keyPem,
  };
}

function certificate(subject: string, publicKey: forge.pki.rsa.PublicKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: "commonName", value: subject }]);
  return cert;
}

/** A CA, and a certificate it issued for localhost and 127.0.0.1 (server authentication). */
function makeTestCa(): TestCa {
  const ca = rsaKeys();
  const caCert = certificate("Keyplane test CA", ca.publicKey);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const server = rsaKeys();
  const serverCert = certificate("localhost", server.publicKey);
  serverCert.setIssuer(caCert.subject.attributes);
  serverCert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
      ],
    },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  serverCert.sign(ca.privateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(caCert), certPem: forge.pki.certificateToPem(serverCert), keyPem: server.keyPem };
}

export interface TestCaFiles {
  /** The CA's certificate (PEM): what a client must trust. */
  caFile: string;
  /** The service configuration that terminates TLS with the server certificate. */
  serviceTls: { KEYPLANE_TLS_CERT_FILE: string; KEYPLANE_TLS_KEY_FILE: string };
}

/**
 * A fresh test CA written to `dir` (ca.pem, server.pem, server.key), its certificate added to this
 * process's trusted authorities: the test reaches the service with fetch too (readiness, seeding).
 */
export function writeTestCa(dir: string): TestCaFiles {
  const ca = makeTestCa();
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, ca.caPem);
  writeFileSync(join(dir, "server.pem"), ca.certPem);
  writeFileSync(join(dir, "server.key"), ca.keyPem, { mode: 0o600 });
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), ca.caPem]);
  return { caFile, serviceTls: { KEYPLANE_TLS_CERT_FILE: join(dir, "server.pem"), KEYPLANE_TLS_KEY_FILE: join(dir, "server.key") } };
}
