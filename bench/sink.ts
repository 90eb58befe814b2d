// Stand-in InfluxDB backend, run as its own process: drains each request body
// and answers 204, so it costs as little CPU as a backend possibly can.
// Listens on the port given as its argument (default: any free one) and prints it on stdout once listening.
import { createServer } from "node:http";

const server = createServer((req, res) => {
  req.on("error", () => res.destroy());
  req.on("end", () => {
    res.writeHead(204).end();
  });
  req.resume();
});

// Outlive the load generator's idle gaps so connections are reused, as with a real backend.
server.keepAliveTimeout = 60_000;

server.listen({ host: "127.0.0.1", port: Number(process.argv[2] ?? 0) }, () => {
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("sink: unexpected server address");
  process.stdout.write(`${addr.port}\n`);
});
