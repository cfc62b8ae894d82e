// tsc copies no non-TS files; the service needs its SQL migrations and the plugin its .proto files at
// run time, and the emitted declarations import the generated contract types (a .d.ts tsc does not emit).
//
// It also writes dist/openapi.json, the contract already parsed: parsing openapi.yaml's YAML was a
// third of the service's start-up. The service uses it only when its digest is the YAML's.
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { parse } from "yaml";

const assets = [
  ["service/db/migrations", "dist/service/db/migrations"],
  ["cdktf-provider/src/protocol/proto", "dist/cdktf-provider/src/protocol/proto"],
  ["service/generated/openapi.d.ts", "dist/service/generated/openapi.d.ts"],
];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}

const contract = readFileSync("openapi.yaml", "utf8");
const sha256 = createHash("sha256").update(contract).digest("hex");
writeFileSync("dist/openapi.json", JSON.stringify({ sha256, document: parse(contract) }));
