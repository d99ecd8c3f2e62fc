/** Entry point: `node dist/cli/run.js …` (the `ichdet` bin) or `tsx src/cli/run.ts …`. */
import { main } from './main.js';

await main();
