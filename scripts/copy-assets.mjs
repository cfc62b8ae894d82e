// tsc copies no non-TS files; the service needs its SQL migrations and the plugin its .proto files at run time.
import { cpSync, existsSync } from "node:fs";

const assets = [
  ["service/db/migrations", "dist/service/db/migrations"],
  ["cdktf-provider/src/protocol/proto", "dist/cdktf-provider/src/protocol/proto"],
];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
