#!/usr/bin/env node
// The run store's Lua scripts (src/**/*.lua) next to the compiled modules: `node scripts/copy-lua.mjs [outDir]`
// (default dist/). tsc copies only what it compiles; src/engine/store.ts reads lua/*.lua beside itself.
import { cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
let n = 0;
for (const rel of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
  if (!rel.endsWith('.lua')) continue;
  cpSync(path.join(src, rel), path.join(out, rel));
  n++;
}
if (!n) throw new Error(`no .lua files under ${src}`);
console.log(`copied ${n} Lua scripts to ${path.relative(root, out) || out}`);
