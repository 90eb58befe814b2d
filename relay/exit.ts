// How a process entry ends: with main's exit code once it resolves, or with the code `failed` returns after
// reporting the error it rejected with.

export function exitWhenDone(main: Promise<number>, failed: (err: unknown) => number): void {
  main.then(
    (code) => {
      process.exitCode = code;
      // Whatever is left (a keep-alive socket, a timer) must not hold the process past a clean stop.
      setImmediate(() => process.exit(code)).unref();
    },
    (err: unknown) => process.exit(failed(err)),
  );
}
