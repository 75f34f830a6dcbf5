// `node --import <this file>`: records every module the process loads into the file named by RW_MODULE_LOG, one a
// line, from outside the code under test — ESM resolutions through a resolve hook (module.register; also the
// import of a CommonJS package from ESM), and every CommonJS require through Module._resolveFilename. Each line
// starts with the loading process's pid (and `.<thread id>` on a worker thread): a child process or thread started
// with the process's execArgv runs this too and logs into the same file.
import Module, { register } from 'node:module';
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

const file = process.env.RW_MODULE_LOG;
const tag = `${process.pid}${threadId ? `.${threadId}` : ''} `;
if (file) {
  register('./module-log-hooks.mjs', import.meta.url, { data: { file, tag } });
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const resolved = resolveFilename.apply(this, args);
    appendFileSync(file, `${tag}cjs ${resolved}\n`);
    return resolved;
  };
}
