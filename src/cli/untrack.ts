import type { CommandModule } from './command.js';
import { untrack } from '../core/untrack.js';

export const untrackCommand: CommandModule = {
  command: 'untrack',
  describe: 'end a pre-dump chain without a dump: stop dirty tracking and leave the tree as it was',
  builder: (y) => y
    .option('tree', { alias: 't', type: 'number', demandOption: true, describe: 'PID of the root of the tree' })
    .option('prev-images-dir', { type: 'string', demandOption: true, describe: 'the last link of the chain' }),
  handler: async (argv) => {
    const n = untrack(Number(argv.tree), String(argv['prev-images-dir']));
    process.stderr.write(`dirty tracking stopped in ${n} process(es)\n`);
    return 0;
  },
};
