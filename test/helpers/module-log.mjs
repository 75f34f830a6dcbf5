// `node --import <this file>`: records every module the process loads into the file named by RW_MODULE_LOG, one a
// line, from outside the code under test — ESM resolutions through a resolve hook (module.register; also the
// import of a CommonJS package from ESM), and every CommonJS require through Module._resolveFilename.
import Module, { register } from 'node:module';
import { appendFileSync } from 'node:fs';

const file = process.env.RW_MODULE_LOG;
if (file) {
  register('./module-log-hooks.mjs', import.meta.url, { data: { file } });
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const resolved = resolveFilename.apply(this, args);
    appendFileSync(file, `cjs ${resolved}\n`);
    return resolved;
  };
}
