/**
 * Bundles the viewer's browser client (src/view/web) with esbuild into dist/view-web: app.js (the
 * page), worker.js (onnxruntime-web inference in a Web Worker) and index.html. Part of
 * `npm run build`, so the client ships in the package; the tests call `buildViewClient` into a
 * temporary folder.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildViewClient(out = join(root, 'dist', 'view-web')): Promise<string> {
  mkdirSync(out, { recursive: true });
  const web = join(root, 'src', 'view', 'web');
  await build({
    entryPoints: { app: join(web, 'app.ts'), worker: join(web, 'worker.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(join(web, 'index.html'), join(out, 'index.html'));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildViewClient(process.argv[2]);
  process.stdout.write(`view client bundled into ${out}\n`);
}
