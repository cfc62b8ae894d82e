// tsc copies no non-TS files; the service needs its SQL migrations and the plugin its .proto files at
// run time, and the emitted declarations import the generated contract types (a .d.ts tsc does not emit).
import { cpSync, existsSync } from "node:fs";

const assets = [
  ["service/db/migrations", "dist/service/db/migrations"],
  ["cdktf-provider/src/protocol/proto", "dist/cdktf-provider/src/protocol/proto"],
  ["service/generated/openapi.d.ts", "dist/service/generated/openapi.d.ts"],
];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
