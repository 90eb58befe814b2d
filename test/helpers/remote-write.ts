// Prometheus remote write bodies for tests, encoded as Prometheus encodes them: prompb's WriteRequest
// through protobufjs, then a snappy block (relay/prompb.ts has the headers Prometheus sends them with).
import { compress } from "@stablelib/snappy";
import { WriteRequest } from "../../relay/prompb.js";

export interface Series {
  /** __name__ included, as Prometheus sends it. */
  readonly labels: Readonly<Record<string, string>>;
  /** [value, timestamp in ms] */
  readonly samples: ReadonlyArray<readonly [number, number]>;
}

/** The snappy-compressed WriteRequest holding `series`. */
export function remoteWriteBody(series: readonly Series[]): Buffer {
  const message = WriteRequest.fromObject({
    timeseries: series.map((s) => ({
      labels: Object.entries(s.labels).map(([name, value]) => ({ name, value })),
      samples: s.samples.map(([value, timestamp]) => ({ value, timestamp })),
    })),
  });
  return Buffer.from(compress(WriteRequest.encode(message).finish()));
}
