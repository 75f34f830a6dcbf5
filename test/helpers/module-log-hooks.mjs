// Loader hooks of test/helpers/module-log.mjs (they run on the loader thread): log every resolved module URL.
import { appendFileSync } from 'node:fs';

let file;
export async function initialize(data) {
  file = data.file;
}
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(file, `esm ${r.url}\n`);
  return r;
}
