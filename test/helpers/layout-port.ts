// A client port for the local layout whose whole port plan is free right now.
import { planLocalLayout } from "../../local/plan.js";
import { busyPorts } from "../../local/port-check.js";

/** A base port in 20000-40000 whose every planned TCP and UDP port is free right now (30 tries). */
export async function freeLayoutPort(replicas = 2): Promise<number> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const candidate = planLocalLayout(
      { port, replicas, runDir: "/unused", databases: ["unused"], watch: false },
      { statsPassword: "unused-password", relayAdminToken: "unused-admin-token" },
    );
    if ((await busyPorts(candidate.host, candidate.tcpPorts, candidate.udpPorts)).length === 0) return port;
  }
  throw new Error("no free base port in 30 tries");
}
