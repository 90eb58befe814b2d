// The Prometheus remote write 1.0 messages, as .proto text parsed by protobufjs when the module loads: text
// rather than a file beside it, so the one-file relay bundle carries it. Two packages: `prometheus` is
// prompb's own (what Prometheus sends), and `relay` is how the relay reads the same bytes to check them.
import protobuf from "protobufjs";

const PROMPB = `
syntax = "proto3";

// From prometheus/prometheus prompb/types.proto and prompb/remote.proto (Copyright 2016-2017 The Prometheus
// Authors, Apache License 2.0), cut to what remote write 1.0 sends and InfluxDB 1.x reads: WriteRequest's
// metadata (3) and TimeSeries' exemplars (3) and histograms (4) are left out, as influxd skips them.
package prometheus;

message WriteRequest {
  repeated TimeSeries timeseries = 1;
  reserved 2;
}

message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
}

message Label {
  string name = 1;
  string value = 2;
}

message Sample {
  double value = 1;
  int64 timestamp = 2;
}
`;

const RELAY = `
syntax = "proto3";

// The relay's reading of a WriteRequest, the same bytes on the wire (an embedded message, a string and bytes
// are all length-delimited). Each series stays bytes until it is read on its own, so a large request is never
// held as objects whole: 25 MB of small series took 1.3 s and 320 MB of heap decoded whole, 0.5 s and no
// growth one series at a time. Label text stays bytes, to be checked as UTF-8: protobufjs reads strings leniently.
package relay;

message WriteRequestSeries {
  repeated bytes timeseries = 1;
}

message SeriesLabelBytes {
  repeated LabelBytes labels = 1;
  repeated prometheus.Sample samples = 2;
}

message LabelBytes {
  bytes name = 1;
  bytes value = 2;
}
`;

const root = new protobuf.Root();
protobuf.parse(PROMPB, root, { keepCase: true });
protobuf.parse(RELAY, root, { keepCase: true });

/** prometheus.WriteRequest, as Prometheus encodes it. */
export const WriteRequest = root.lookupType("prometheus.WriteRequest");
/** A WriteRequest with each series left as its bytes. */
export const WriteRequestSeries = root.lookupType("relay.WriteRequestSeries");
/** One prometheus.TimeSeries with its label text as bytes. */
export const SeriesLabelBytes = root.lookupType("relay.SeriesLabelBytes");

/** The headers Prometheus sends a remote write 1.0 body with, and the relay sends it on with. */
export const REMOTE_WRITE_HEADERS = {
  "content-type": "application/x-protobuf",
  "content-encoding": "snappy",
  "x-prometheus-remote-write-version": "0.1.0",
} as const;
