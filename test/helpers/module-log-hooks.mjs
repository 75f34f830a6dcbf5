// Loader hooks of test/helpers/module-log.mjs (they run on the loader thread): log every resolved module URL.
import { appendFileSync } from 'node:fs';

let file;
let tag = '';
export async function initialize(data) {
  file = data.file;
  tag = data.tag ?? '';
}
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(file, `${tag}esm ${r.url}\n`);
  return r;
}
