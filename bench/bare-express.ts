// The framework ceiling for the resolve benchmark: Express 5 with the same JSON body parser and a
// route that answers a small JSON document, nothing else. Prints its port on stdout.
import express from "express";

const app = express();
app.disable("x-powered-by");
app.use(express.json({ limit: "64kb" }));
app.post("/bare", (req, res) => {
  res.json({ ok: true, provider: (req.body as { provider?: string }).provider ?? null });
});
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
