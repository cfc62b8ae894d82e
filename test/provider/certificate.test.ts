// The AutoMTLS certificate made by certificate.ts: the shape go-plugin generates.
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSelfSignedCertificate } from "../../cdktf-provider/src/protocol/certificate.js";

describe("generateSelfSignedCertificate", () => {
  it("is a self-signed P-256 CA for localhost and 127.0.0.1, for server and client authentication, valid for a year", async () => {
    const before = Date.now();
    const { certPem, certDer, keyPem } = await generateSelfSignedCertificate();
    const cert = new X509Certificate(certPem);
    expect(cert.raw.equals(certDer)).toBe(true);
    expect(cert.subject).toBe("CN=localhost\nO=Keyplane");
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.ca).toBe(true);
    expect(cert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(createPublicKey(createPrivateKey(keyPem)).export({ format: "jwk" })).toEqual(cert.publicKey.export({ format: "jwk" }));
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    expect(notBefore).toBeLessThanOrEqual(before);
    expect(notAfter - notBefore).toBeGreaterThanOrEqual(365 * 24 * 3600 * 1000);
    expect(/^[0-9A-F]{32}$/.test(cert.serialNumber)).toBe(true);
  });

  it("uses a fresh key and serial number each time", async () => {
    const [a, b] = await Promise.all([generateSelfSignedCertificate(), generateSelfSignedCertificate()]);
    const [x, y] = [new X509Certificate(a.certPem), new X509Certificate(b.certPem)];
    expect(x.serialNumber).not.toBe(y.serialNumber);
    expect(a.keyPem).not.toBe(b.keyPem);
  });
});
