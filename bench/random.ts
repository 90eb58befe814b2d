// A small, well-known 32-bit generator (mulberry32): uniform in [0, 1), the same sequence for the same seed
// everywhere, so the benchmark's bodies and the soak's fault plans can be made again byte for byte.
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
