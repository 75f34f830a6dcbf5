// autocannon ships no types; the bench uses its programmatic API with a callback.
declare module 'autocannon' {
  function autocannon(opts: Record<string, unknown>, cb: (err: Error | null, result: any) => void): import('node:events').EventEmitter;
  export default autocannon;
}
