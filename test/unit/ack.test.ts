// The client's answer by ack level, from each output's first try: a pure function.
import { describe, expect, it } from "vitest";
import { decide, requiredAccepts, type Attempt } from "../../relay/ack.js";

const accepted = (output: string): Attempt => ({ kind: "accepted", reply: { output, status: 204 } });
const failed = (output: string, status = 0): Attempt => ({
  kind: "failed",
  reply: status === 0 ? { output, status, error: new Error("connect ECONNREFUSED") } : { output, status, body: Buffer.from("boom") },
});
const rejected = (output: string): Attempt => ({ kind: "rejected", reply: { output, status: 400, body: Buffer.from('{"error":"bad"}') } });
const deferred = (output: string): Attempt => ({ kind: "deferred", output, reason: "still replaying its queue" });

describe("ack levels", () => {
  it("need one, a majority, or every output", () => {
    expect([1, 2, 3, 4, 5].map((n) => requiredAccepts("one", n))).toEqual([1, 1, 1, 1, 1]);
    expect([1, 2, 3, 4, 5].map((n) => requiredAccepts("quorum", n))).toEqual([1, 2, 2, 3, 3]);
    expect([1, 2, 3, 4, 5].map((n) => requiredAccepts("all", n))).toEqual([1, 2, 3, 4, 5]);
  });

  it('"one": 204 and queue for the rest once any output accepted', () => {
    expect(decide("one", [accepted("a"), failed("b")])).toEqual({ answer: { status: 204 }, queue: true });
    expect(decide("one", [deferred("a"), accepted("b")])).toEqual({ answer: { status: 204 }, queue: true });
  });

  it('"quorum" and "all": 503 naming who took it, and the write is still queued for the others', () => {
    const three = [accepted("a"), failed("b"), failed("c", 500)];
    expect(decide("one", three).answer.status).toBe(204);
    const quorum = decide("quorum", three);
    expect(quorum.queue).toBe(true);
    expect(quorum.answer.status).toBe(503);
    expect(JSON.parse(String(quorum.answer.body)).error).toBe(
      'ack "quorum" needs 2 of 3 outputs to accept the write, and 1 did (a). The others keep it in their queues and will replay it: ' +
        "b: connect ECONNREFUSED; c: HTTP 500: boom",
    );
    expect(decide("quorum", [accepted("a"), accepted("b"), failed("c")]).answer.status).toBe(204);
    expect(decide("all", [accepted("a"), accepted("b"), deferred("c")]).answer.status).toBe(503);
  });

  it("passes a 4xx back whatever else happened, queueing for failed outputs only if one accepted", () => {
    expect(decide("one", [accepted("a"), rejected("b"), failed("c")])).toMatchObject({ answer: { status: 400 }, queue: true });
    expect(decide("one", [rejected("a"), failed("b")])).toMatchObject({
      answer: { status: 400, body: Buffer.from('{"error":"bad"}') },
      queue: false,
    });
  });

  it("keeps nothing when no output took the write: the last 5xx, else 503 naming each output", () => {
    expect(decide("one", [failed("a", 500), failed("b", 503)])).toMatchObject({
      answer: { status: 503, body: Buffer.from("boom") },
      queue: false,
    });
    const none = decide("one", [failed("a"), deferred("b")]);
    expect(none.queue).toBe(false);
    expect(JSON.parse(String(none.answer.body)).error).toBe(
      "no backend took the write, and nothing was kept: a: connect ECONNREFUSED; b: still replaying its queue",
    );
  });
});

describe("statements and missing databases", () => {
  const results = '{"results":[{"statement_id":0}]}';
  const applied = (output: string): Attempt => ({
    kind: "accepted",
    reply: { output, status: 200, body: Buffer.from(results), contentType: "application/json" },
  });
  const missing = (output: string): Attempt => ({
    kind: "missing-database",
    reply: { output, status: 404, body: Buffer.from('{"error":"database not found: \\"x\\""}'), contentType: "application/json" },
  });

  it("answer a statement with the results of the first output that applied it", () => {
    const decision = decide("one", [failed("a"), applied("b"), applied("c")]);
    expect(decision).toEqual({ answer: { status: 200, body: Buffer.from(results), contentType: "application/json" }, queue: true });
  });

  it("keep a write one output lacks the database for when another took it, and pass the 404 back when none did", () => {
    expect(decide("one", [accepted("a"), missing("b")])).toEqual({ answer: { status: 204 }, queue: true });
    const none = decide("one", [missing("a"), missing("b")]);
    expect(none.queue).toBe(false);
    expect(none.answer).toMatchObject({ status: 404, body: Buffer.from('{"error":"database not found: \\"x\\""}') });
  });
});
