// The throwaway X.509 certificate for go-plugin's AutoMTLS.
//
// node:crypto makes the key and the signature; the certificate's DER is written here by hand. Its
// shape is fixed (two names, four extensions), and loading node-forge to encode it cost more of
// each plugin start than everything else the certificate needs (three starts per plan). The key is
// ECDSA P-256: generating it takes well under a millisecond, whereas RSA-2048 takes 70–300 ms.
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
  /** The DER bytes of the certificate (what the handshake line carries). */
  certDer: Buffer;
}

const VALIDITY_MS = 365 * 24 * 3600 * 1000;

/** Why `pem` (the engine's PLUGIN_CLIENT_CERT) is not a certificate TLS could require of it; undefined when it is one. */
export function clientCertificateProblem(pem: string): string | undefined {
  try {
    new X509Certificate(pem);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * A self-signed certificate for "localhost" / 127.0.0.1, usable for both TLS server and client
 * authentication — the shape go-plugin itself generates (CA bit set, serverAuth + clientAuth).
 */
export async function generateSelfSignedCertificate(commonName = "localhost"): Promise<SelfSignedCertificate> {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  // RFC 5758: no parameters for ecdsa-with-SHA256.
  const algorithm = sequence(oid("1.2.840.10045.4.3.2"));
  const name = sequence(
    set(sequence(oid("2.5.4.3"), tlv(PRINTABLE_STRING, Buffer.from(commonName)))),
    set(sequence(oid("2.5.4.10"), tlv(PRINTABLE_STRING, Buffer.from("Keyplane")))),
  );
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive, and minimal DER (no leading zero byte)
  const now = Date.now();
  const extensions = sequence(
    extension("2.5.29.19", true, sequence(tlv(BOOLEAN, Buffer.from([0xff])))), // basicConstraints: CA
    // keyUsage: digitalSignature (bit 0), keyAgreement (4), keyCertSign (5); 2 unused bits.
    extension("2.5.29.15", true, tlv(BIT_STRING, Buffer.from([0x02, 0x8c]))),
    extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))), // serverAuth, clientAuth
    // subjectAltName: dNSName [2] localhost, iPAddress [7] 127.0.0.1.
    extension("2.5.29.17", false, sequence(tlv(0x82, Buffer.from("localhost")), tlv(0x87, Buffer.from([127, 0, 0, 1])))),
  );
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // [0] version: v3
    integer(serial),
    algorithm,
    name, // issuer
    sequence(time(new Date(now - 30_000)), time(new Date(now + VALIDITY_MS))),
    name, // subject
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, extensions), // [3] extensions
  );
  const signature = sign("sha256", tbs, privateKey); // DER Ecdsa-Sig-Value
  const certDer = sequence(tbs, algorithm, tlv(BIT_STRING, Buffer.concat([Buffer.from([0]), signature])));
  return {
    certDer,
    certPem: toPem("CERTIFICATE", certDer),
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OID = 0x06;
const PRINTABLE_STRING = 0x13;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** One DER element: tag, definite length, contents. */
function tlv(tag: number, contents: Buffer): Buffer {
  const n = contents.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), contents]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
/** An INTEGER from its big-endian two's-complement bytes, already minimal. */
const integer = (bytes: Buffer) => tlv(INTEGER, bytes);

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(OID, Buffer.from(bytes));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [tlv(BOOLEAN, Buffer.from([0xff]))] : []), tlv(OCTET_STRING, value));
}

// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050, both in seconds with a Z.
function time(date: Date): Buffer {
  const digits = date.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
  return date.getUTCFullYear() < 2050 ? tlv(UTC_TIME, Buffer.from(digits.slice(2))) : tlv(GENERALIZED_TIME, Buffer.from(digits));
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
