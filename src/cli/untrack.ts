import type { CommandModule } from './command.js';
import { treeOption, prevImagesDirOption } from './options.js';
import { untrack } from '../core/untrack.js';

export const untrackCommand: CommandModule = {
  command: 'untrack',
  describe: 'end a pre-dump chain without a dump: stop dirty tracking and leave the tree as it was',
  builder: (y) => y
    .option('tree', treeOption)
    .option('prev-images-dir', prevImagesDirOption('the last link of the chain', true)),
  handler: async (argv) => {
    const n = untrack(Number(argv.tree), String(argv['prev-images-dir']));
    process.stderr.write(`dirty tracking stopped in ${n} process(es)\n`);
    return 0;
  },
};
