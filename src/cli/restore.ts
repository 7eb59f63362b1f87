import type { CommandModule } from './command.js';
import { imagesDirOption } from './options.js';
import { restore } from '../core/restore.js';

export const restoreCommand: CommandModule = {
  command: 'restore',
  describe: 'rebuild a process tree from an image, with its original PIDs',
  builder: (y) => y
    .option('images-dir', imagesDirOption('image directory'))
    .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return once the tree runs and print the root PID' })
    .option('pidfile', { type: 'string', describe: 'write the root PID to this file' })
    .option('shell-job', { alias: 'j', type: 'boolean', default: false, describe: 'restore a shell job onto this terminal, in this session' })
    .example('$0 restore -D /tmp/img -d', 'restore in the background'),
  handler: async (argv) => {
    const r = await restore({
      dir: String(argv['images-dir']), detach: Boolean(argv.detach), shellJob: Boolean(argv['shell-job']),
      ...(argv.pidfile ? { pidfile: String(argv.pidfile) } : {}),
    });
    if (argv.detach) {
      process.stdout.write(`${r.root}\n`);
      return 0;
    }
    if (r.exit && 'signal' in r.exit) {
      process.stderr.write(`godwit: restored process ${r.root} was killed by signal ${r.exit.signal}\n`);
      return 128 + r.exit.signal;
    }
    return r.exit?.code ?? 0;
  },
};
