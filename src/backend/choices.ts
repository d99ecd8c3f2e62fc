/** The `--backend` choices, without loading tfjs (the CLI's option parsing imports this). */

/**
 * The backends a thread can run on (`auto`: node when importable, else native when the
 * accelerator loads, else wasm).
 */
export const BACKENDS = ['auto', 'native', 'wasm', 'node', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

/** `--backend`'s help: the choices and what auto picks. */
export const BACKEND_HELP =
  'auto, native (wasm + the OpenBLAS convolutions built at install), wasm, node (tfjs-node) or cpu; ' +
  'auto: node when installed, else native when built, else wasm';
