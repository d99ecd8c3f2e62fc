/**
 * ichdet's layer rules, checked by dependency-cruiser in `npm test` (`npm run lint:layers`).
 * Data flows one way: dicom/ synth/ → data/ → models/ → backend/ → run/ → train/ → eval/ →
 * infer/ → series/ → commands/ → cli/ (see STYLE.md). util/, io/, errors.ts and labels.ts sit under
 * everything. `src/index.ts` (the package's entry) may import anything.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles are errors (tfjs-layers and cornerstone3D lint for them too).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'dicom-imports-no-layer',
      severity: 'error',
      comment: 'dicom/ is the bottom layer: it imports only util/, io/ and the root modules.',
      from: { path: '^src/dicom/' },
      to: {
        path: '^src/',
        pathNot: ['^src/dicom/', '^src/util/', '^src/io/', '^src/(errors|labels)\\.ts$'],
      },
    },
    {
      name: 'synth-beside-dicom',
      severity: 'error',
      comment: 'synth/ is a data source beside dicom/: it writes DICOM, it knows nothing above.',
      from: { path: '^src/synth/' },
      to: { path: '^src/', pathNot: ['^src/(synth|dicom|util|io)/', '^src/(errors|labels)\\.ts$'] },
    },
    {
      name: 'data-not-above',
      severity: 'error',
      comment: 'data/ (curation, cache, model input) never reaches up into training or inference.',
      from: { path: '^src/data/' },
      to: { path: '^src/(train|infer|eval|run|commands|cli|backend)/' },
    },
    {
      name: 'run-below-train',
      severity: 'error',
      comment: 'run/ (the run folder) is read by training and inference alike: it imports neither.',
      from: { path: '^src/(run|backend|models)/' },
      to: { path: '^src/(train|infer|eval|commands|cli)/' },
    },
    {
      name: 'infer-not-train',
      severity: 'error',
      comment:
        'infer/ owns all prediction; a viewer or PACS service must not need the training engine.',
      from: { path: '^src/infer/' },
      to: { path: '^src/train/' },
    },
    {
      name: 'eval-not-infer',
      severity: 'error',
      comment: 'eval/ (metrics, reports) sits below infer/.',
      from: { path: '^src/eval/' },
      to: { path: '^src/(infer|commands|cli)/' },
    },
    {
      name: 'series-below-commands',
      severity: 'error',
      comment:
        'series/ (stage 2: out-of-fold features, the sequence model) sits above infer/: it never imports the commands, the CLI or the CNN training engine.',
      from: { path: '^src/series/' },
      to: { path: '^src/(train|commands|cli)/' },
    },
    {
      name: 'nothing-below-imports-series',
      severity: 'error',
      comment: 'The layers under series/ know nothing of it.',
      from: { path: '^src/(dicom|synth|data|models|backend|run|train|eval|infer|util|io)/' },
      to: { path: '^src/series/' },
    },
    {
      name: 'watch-below-commands',
      severity: 'error',
      comment:
        'watch/ (the PACS service: change feed, series rules, SR and key-image writers) uses infer/, series/, data/, dicom/, run/ and util/; never the commands, the CLI or training.',
      from: { path: '^src/watch/' },
      to: { path: '^src/(commands|cli|train|backend|eval|models|synth)/' },
    },
    {
      name: 'nothing-below-imports-watch',
      severity: 'error',
      comment: 'Only commands/, cli/ and src/index.ts use watch/.',
      from: { path: '^src/', pathNot: ['^src/(watch|commands|cli)/', '^src/index\\.ts$'] },
      to: { path: '^src/watch/' },
    },
    {
      name: 'nothing-imports-commands',
      severity: 'error',
      comment:
        'commands/ are the entry points: only cli/, queue/ (whose jobs run them), other commands and src/index.ts use them.',
      from: { path: '^src/', pathNot: ['^src/(commands|cli|queue)/', '^src/index\\.ts$'] },
      to: { path: '^src/commands/' },
    },
    {
      name: 'queue-beside-cli',
      severity: 'error',
      comment:
        'queue/ (BullMQ jobs and the worker) is a second shell beside cli/: a job calls the same command function the CLI calls, so it imports commands/; only cli/ and src/index.ts import it.',
      from: { path: '^src/', pathNot: ['^src/(cli|queue)/', '^src/index\\.ts$'] },
      to: { path: '^src/queue/' },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      comment: 'cli/ is the outermost shell.',
      from: { path: '^src/', pathNot: ['^src/cli/'] },
      to: { path: '^src/cli/' },
    },
    {
      name: 'view-web-browser-safe',
      severity: 'error',
      comment:
        "view/web/ is bundled for the browser: besides itself it imports only pure modules (ichdet's HU, windowing, resizing and model-input code, and the series model's per-slice inputs so the worker feeds stage 2 exactly what predict does), nothing that needs Node (esbuild's browser build also fails on a node: import).",
      from: { path: '^src/view/web/' },
      to: {
        path: '^src/',
        pathNot: [
          '^src/view/web/',
          '^src/dicom/(hu|window|resize|quantize|preprocess|slice|crop|morphology|place)\\.ts$',
          '^src/data/(input|series)\\.ts$',
          '^src/models/registry\\.ts$',
          '^src/series/slice-inputs\\.ts$',
          '^src/(errors|labels)\\.ts$',
        ],
      },
    },
    {
      name: 'view-not-train',
      severity: 'error',
      comment:
        'The viewer (view/) reads folders and results; it never needs the training engine or the CLI.',
      from: { path: '^src/view/' },
      to: { path: '^src/(train|commands|cli)/' },
    },
    {
      name: 'nothing-below-imports-view',
      severity: 'error',
      comment: 'view/ sits beside commands/: the layers under it know nothing of it.',
      from: { path: '^src/(dicom|synth|data|models|backend|run|train|eval|infer|series|util|io)/' },
      to: { path: '^src/view/' },
    },
    {
      name: 'util-imports-no-layer',
      severity: 'error',
      comment: 'util/ and io/ are shared helpers under every layer.',
      from: { path: '^src/(util|io)/' },
      to: { path: '^src/', pathNot: ['^src/(util|io)/', '^src/(errors|labels)\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js'],
    },
  },
};
