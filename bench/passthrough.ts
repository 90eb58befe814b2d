// The reference the relay is measured against: a bare fastify + undici pass-through that forwards each body
// to every output and answers 204 on the first 2xx, with no validation, timestamps or error semantics; and
// that forwards each GET /query to the outputs in turn and streams the answer back, with no classification,
// health or replica choice. It reads the relay's own config (`-config FILE`), so the benchmark starts it
// exactly like the relay.
import Fastify from "fastify";
import { Pool } from "undici";
import { loadConfig } from "../relay/config.js";

const file = process.argv[process.argv.indexOf("-config") + 1]!;
const listener = loadConfig(file).http[0]!;
const outputs = listener.outputs.map((output) => {
  const url = new URL(output.location);
  // Reads get their own connections, as in the relay, so a long answer never holds up a write.
  return { pool: new Pool(url.origin, { connections: 32 }), readPool: new Pool(url.origin, { connections: 32 }), path: url.pathname };
});
/** Answer headers that describe this hop only, or a length the re-chunked answer no longer has. */
const HOP_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);
let readTurn = 0;

const app = Fastify({ bodyLimit: listener.maxBodySize });
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
app.get("/ping", (_request, reply) => reply.code(204).send());
app.post("/write", (request, reply) => {
  const search = request.url.slice(request.url.indexOf("?"));
  const sends = outputs.map(async ({ pool, path }) => {
    const response = await pool.request({ method: "POST", path: path + search, body: request.body as Buffer });
    await response.body.dump();
    if (response.statusCode >= 300) throw new Error(`HTTP ${response.statusCode}`);
  });
  return Promise.any(sends).then(
    () => reply.code(204).send(),
    () => reply.code(503).send(),
  );
});

app.get("/query", async (request, reply) => {
  const output = outputs[readTurn++ % outputs.length]!;
  const response = await output.readPool.request({ method: "GET", path: request.url });
  reply.code(response.statusCode);
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && !HOP_HEADERS.has(name)) reply.header(name, value);
  }
  return reply.send(response.body);
});

await app.listen({ host: listener.bindAddr.host, port: listener.bindAddr.port });
process.once("SIGTERM", () => void app.close().then(() => Promise.all(outputs.flatMap((o) => [o.pool.close(), o.readPool.close()]))));
