/** A run folder's single home: its layout, config, model card, checkpoints and atomic writes. */
export * from './checkpoint.js';
export * from './config.js';
export * from './folder.js';
export * from './layout.js';
export * from './model-card.js';
export * from './run.js';
