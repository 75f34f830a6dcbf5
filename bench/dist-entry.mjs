// Runs the compiled CLI at RW_ENTRY (bench/.build/cli/main.js) the way bin/runwright.js runs dist/cli/main.js.
import { pathToFileURL } from 'node:url';

const mod = await import(pathToFileURL(process.env.RW_ENTRY).href);
const code = await mod.main(process.argv);
if (code >= 0) process.exit(code);
