// The policy pack as Pulumi runs it: Pulumi's own policy runner (the one the CLI's nodejs analyzer
// plugin starts) serving infra/policy on a loopback port, and a gRPC client speaking the analyzer
// protocol to it, as the engine does during a preview.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const grpc = require("@grpc/grpc-js");
const { AnalyzerClient } = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzer = require("@pulumi/pulumi/proto/analyzer_pb");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");

const PACK_DIR = fileURLToPath(new URL("../../infra/policy/", import.meta.url));
const RUNNER = require.resolve("@pulumi/pulumi/cmd/run-policy-pack");

export interface Diagnostic {
  readonly policy: string;
  readonly message: string;
  readonly enforcementLevel: number;
}

export interface RunningPolicyPack {
  readonly name: string;
  readonly version: string;
  readonly policies: readonly string[];
  analyze(type: string, props: Record<string, unknown>, protect?: boolean): Promise<Diagnostic[]>;
  stop(): Promise<void>;
}

/** Starts the pack and waits (bounded) for the port it prints; the engine address is never dialled here. */
export async function startPolicyPack(timeoutMs = 30_000): Promise<RunningPolicyPack> {
  const child = spawn(process.execPath, [RUNNER, "127.0.0.1:1", "."], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr!.on("data", (chunk) => (output += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the policy pack printed no port in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      const match = /^(\d+)\s*$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the policy pack exited with ${code}:\n${output}`));
    });
  });
  const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = <T>(method: string, request: unknown): Promise<T> =>
    new Promise((resolve, reject) =>
      client[method](request, { deadline: Date.now() + timeoutMs }, (err: Error | null, response: T) =>
        err ? reject(err) : resolve(response),
      ),
    );

  const info = await call<any>("getAnalyzerInfo", new Empty());
  return {
    name: info.getName(),
    version: info.getVersion(),
    policies: info.getPoliciesList().map((p: any) => p.getName()),
    async analyze(type, props, protect = false) {
      const request = new analyzer.AnalyzeRequest();
      request.setType(type);
      request.setName("subject");
      request.setUrn(`urn:pulumi:test::influx-ha::${type}::subject`);
      request.setProperties(Struct.fromJavaScript(props));
      const options = new analyzer.AnalyzerResourceOptions();
      options.setProtect(protect);
      request.setOptions(options);
      const response = await call<any>("analyze", request);
      return response.getDiagnosticsList().map((d: any) => ({
        policy: d.getPolicyname(),
        message: d.getMessage(),
        enforcementLevel: d.getEnforcementlevel(),
      }));
    },
    stop: () => stop(child, client),
  };
}

async function stop(child: ChildProcess, client: { close(): void }): Promise<void> {
  client.close();
  if (child.exitCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}
