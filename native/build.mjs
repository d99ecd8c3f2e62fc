#!/usr/bin/env node
// Builds ichdet's optional native accelerator (native/ichdet_native.c against OpenBLAS) with
// node-gyp; npm runs this as the package's install script. A failed build is not a failed
// install: ichdet then trains and predicts on its WebAssembly kernels, and says so here once.
// ICHDET_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

if (process.env.ICHDET_NATIVE === '0') {
  console.log('ichdet: ICHDET_NATIVE=0, the native accelerator is not built');
  process.exit(0);
}

/** npm's own node-gyp: npm names it in the environment of lifecycle scripts. */
function nodeGyp() {
  const named = process.env.npm_config_node_gyp;
  if (named && existsSync(named)) return named;
  const bundled = join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  return existsSync(bundled) ? bundled : null;
}

const gyp = nodeGyp();
if (gyp === null) {
  console.warn(
    'ichdet: node-gyp not found; the native accelerator is not built (WebAssembly kernels are used)',
  );
  process.exit(0);
}
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: here, encoding: 'utf8' });
if (r.status === 0) {
  console.log('ichdet: native accelerator built (OpenBLAS)');
  process.exit(0);
}
const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n');
const reason =
  lines.find((l) => /fatal error|cannot find -l|No such file/.test(l)) ??
  lines.find((l) => /error/i.test(l)) ??
  `node-gyp exited with ${r.status}`;
console.warn(
  `ichdet: the native accelerator was not built (${reason.trim()}); training and inference use ` +
    'the WebAssembly kernels. With libopenblas-dev installed, `npm rebuild ichdet` builds it.',
);
process.exit(0);
