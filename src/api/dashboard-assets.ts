// The dashboard's browser assets: src/ui/** (plain TypeScript + DOM, one CSS file) bundled by esbuild into
// dist/dashboard/ (gitignored). `npm run build:ui` builds them; the server builds them on start when they are
// missing or older than the sources (tests and `serve` from a checkout), so a fresh clone needs no extra step.
// A production image has no src/ui: it serves what `npm run build` put in dist/dashboard.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bump when the bundling options change, so old bundles count as stale. */
const BUILDER_VERSION = '1';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root: this module lives in src/api (tsx) or dist/api (compiled). */
export const PROJECT_ROOT = path.resolve(here, '..', '..');
export const UI_SRC_DIR = path.join(PROJECT_ROOT, 'src', 'ui');
export const UI_OUT_DIR = path.join(PROJECT_ROOT, 'dist', 'dashboard');

export interface UiManifest {
  /** Short content hash of the sources: the ?v= cache buster on asset URLs. */
  version: string;
  sourceHash: string;
  builtAt: string;
  files: string[];
}

export interface UiAssets {
  dir: string;
  manifest: UiManifest | null;
  /** true when this call (re)built the bundle. */
  built: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|css)$/.test(e)) out.push(p);
  }
  return out;
}

/** Hash of every UI source file (path + bytes) and the builder version; null when there are no sources. */
export function uiSourceHash(srcDir = UI_SRC_DIR): string | null {
  if (!existsSync(srcDir)) return null;
  const h = createHash('sha256').update(`builder ${BUILDER_VERSION}\n`);
  // The bundle also carries the shared outcome wording from src/core (how a step's result is coloured and summarised).
  const shared = [path.join(srcDir, '..', 'core', 'step-summary.ts')].filter((f) => existsSync(f));
  for (const f of [...sourceFiles(srcDir), ...shared]) h.update(`${path.relative(srcDir, f)}\n`).update(readFileSync(f)).update('\n');
  return h.digest('hex');
}

function readManifest(outDir: string): UiManifest | null {
  try {
    return JSON.parse(readFileSync(path.join(outDir, 'manifest.json'), 'utf8')) as UiManifest;
  } catch {
    return null;
  }
}

/** Write through a temporary name and rename, so a concurrent reader (or builder) never sees half a file. */
async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Bundle src/ui/main.ts (and the CSS it imports) into outDir. */
export async function buildUi(opts: { srcDir?: string; outDir?: string } = {}): Promise<UiManifest> {
  const srcDir = opts.srcDir ?? UI_SRC_DIR;
  const outDir = opts.outDir ?? UI_OUT_DIR;
  const sourceHash = uiSourceHash(srcDir);
  if (!sourceHash) throw new Error(`no dashboard sources at ${srcDir}`);
  const esbuild = await import('esbuild');
  const res = await esbuild.build({
    entryPoints: { app: path.join(srcDir, 'main.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    outdir: outDir,
    write: false,
    logLevel: 'silent',
  });
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const f of res.outputFiles) {
    await writeAtomic(f.path, f.contents);
    files.push(path.relative(outDir, f.path));
  }
  const manifest: UiManifest = { version: sourceHash.slice(0, 12), sourceHash, builtAt: new Date().toISOString(), files: files.sort() };
  await writeAtomic(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * The bundle, built first when the sources exist and the bundle is missing or stale (by content hash).
 * Without sources (a production image) whatever is in outDir is used as is; manifest null = not built.
 */
export async function ensureUiBuilt(opts: { srcDir?: string; outDir?: string; force?: boolean } = {}): Promise<UiAssets> {
  const srcDir = opts.srcDir ?? UI_SRC_DIR;
  const outDir = opts.outDir ?? UI_OUT_DIR;
  const current = readManifest(outDir);
  const want = uiSourceHash(srcDir);
  if (!want) return { dir: outDir, manifest: current, built: false };
  const complete = current?.files.every((f) => existsSync(path.join(outDir, f)));
  if (!opts.force && current && current.sourceHash === want && complete) return { dir: outDir, manifest: current, built: false };
  return { dir: outDir, manifest: await buildUi({ srcDir, outDir }), built: true };
}

/** The built bundle's file, for tests that look at what is served. */
export async function readAsset(name: string, outDir = UI_OUT_DIR): Promise<string> {
  return readFile(path.join(outDir, name), 'utf8');
}

// `npm run build:ui` (tsx src/api/dashboard-assets.ts): always rebuild.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  buildUi().then(
    (m) => console.log(`dashboard assets ${m.version} → ${path.relative(process.cwd(), UI_OUT_DIR) || UI_OUT_DIR} (${m.files.join(', ')}) in ${Date.now() - t0} ms`),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
