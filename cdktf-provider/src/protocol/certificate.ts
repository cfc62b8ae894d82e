// The throwaway X.509 certificate for go-plugin's AutoMTLS.
//
// node-forge builds the certificate (names, extensions, DER); node:crypto makes the key and the
// signature. The key is ECDSA P-256: generating it takes well under a millisecond, whereas RSA-2048
// takes 70–300 ms with OpenSSL (and far longer in forge's pure JS) — time the engine would wait on
// every plugin start. forge can only encode RSA keys itself, so the SubjectPublicKeyInfo and the
// ecdsa-with-SHA256 signature are spliced into forge's ASN.1 tree.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import type forgeTypes from "node-forge";

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
  /** The DER bytes of the certificate (what the handshake line carries). */
  certDer: Buffer;
}

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const VALIDITY_MS = 365 * 24 * 3600 * 1000;

/**
 * A self-signed certificate for "localhost" / 127.0.0.1, usable for both TLS server and client
 * authentication — the shape go-plugin itself generates (CA bit set, serverAuth + clientAuth).
 */
export async function generateSelfSignedCertificate(commonName = "localhost"): Promise<SelfSignedCertificate> {
  const forge: typeof forgeTypes = (await import("node-forge")).default;
  const { asn1, pki } = forge;
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });

  // A forge certificate object only to reuse its encoders for names and extensions.
  const template = pki.createCertificate();
  const name = [
    { name: "commonName", value: commonName },
    { name: "organizationName", value: "Keyplane" },
  ];
  template.setSubject(name);
  template.setIssuer(name);
  template.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", critical: true, digitalSignature: true, keyAgreement: true, keyCertSign: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
      ],
    },
  ]);
  const extensionsToAsn1 = (pki as unknown as { certificateExtensionsToAsn1(this: void, exts: unknown[]): forgeTypes.asn1.Asn1 }).certificateExtensionsToAsn1;

  const { Class, Type } = asn1;
  const algorithm = () =>
    asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
      // RFC 5758: no parameters for ecdsa-with-SHA256.
      asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(ECDSA_WITH_SHA256).getBytes()),
    ]);
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive, and minimal DER (no leading zero byte)
  const now = Date.now();
  const spki = publicKey.export({ type: "spki", format: "der" });

  const tbs = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(2).getBytes()), // v3
    ]),
    asn1.create(Class.UNIVERSAL, Type.INTEGER, false, serial.toString("binary")),
    algorithm(),
    pki.distinguishedNameToAsn1(template.issuer),
    asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [timeAsn1(forge, new Date(now - 30_000)), timeAsn1(forge, new Date(now + VALIDITY_MS))]),
    pki.distinguishedNameToAsn1(template.subject),
    asn1.fromDer(forge.util.createBuffer(spki.toString("binary"))),
    extensionsToAsn1(template.extensions),
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), "binary");
  const signature = sign("sha256", tbsDer, privateKey); // DER Ecdsa-Sig-Value

  const certificate = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    tbs,
    algorithm(),
    asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, "\x00" + signature.toString("binary")),
  ]);
  const certDer = Buffer.from(asn1.toDer(certificate).getBytes(), "binary");
  return {
    certDer,
    certPem: toPem("CERTIFICATE", certDer),
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
function timeAsn1(forge: typeof forgeTypes, date: Date): forgeTypes.asn1.Asn1 {
  const { asn1 } = forge;
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
