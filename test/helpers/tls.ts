// A throwaway self-signed certificate for 127.0.0.1, made with the openssl command.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed certificate for 127.0.0.1, key and certificate in one PEM file (and its text), as ssl-combined-pem wants. */
export function selfSignedPem(): { file: string; cert: string; pem: string } {
  const dir = mkdtempSync(join(tmpdir(), "relay-tls-"));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const openssl = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  if (openssl.status !== 0) throw new Error(`openssl failed: ${openssl.stderr}`);
  const file = join(dir, "combined.pem");
  const certText = readFileSync(cert, "utf8");
  const pem = readFileSync(key, "utf8") + certText;
  writeFileSync(file, pem);
  return { file, cert: certText, pem };
}
