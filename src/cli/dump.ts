import type { CommandModule } from './command.js';
import { treeOption, imagesDirOption, prevImagesDirOption } from './options.js';
import { dump } from '../core/dump.js';

export const dumpCommand: CommandModule = {
  command: 'dump',
  describe: 'checkpoint the process tree rooted at a PID into an image directory',
  builder: (y) => y
    .option('tree', treeOption)
    .option('images-dir', imagesDirOption('directory to write the image to'))
    .option('leave-running', { alias: 'R', type: 'boolean', default: false, describe: 'let the tree run on after the dump (default: kill it)' })
    .option('shell-job', { alias: 'j', type: 'boolean', default: false, describe: 'the tree is a shell job: its terminal and session may lie outside it' })
    .option('prev-images-dir', prevImagesDirOption('the last pre-dump of a chain: only what changed since goes in (absolute, or relative to -D)'))
    .option('tcp-established', { type: 'boolean', default: false, describe: 'move established TCP connections (TCP repair); their packets are held by a network lock until the restore' })
    .example('$0 dump -t 1234 -D /tmp/img', 'dump the tree of 1234 and kill it')
    .example('$0 dump -t 1234 -D /tmp/img -R', 'dump and leave it running')
    .example('$0 dump -t 1234 -D /tmp/img --tcp-established', 'a server with live clients: restore picks the connections up where they stopped'),
  handler: async (argv) => {
    const r = await dump({
      pid: Number(argv.tree), dir: String(argv['images-dir']), leaveRunning: Boolean(argv['leave-running']), shellJob: Boolean(argv['shell-job']),
      ...(argv['prev-images-dir'] ? { prev: String(argv['prev-images-dir']) } : {}),
      ...(argv['tcp-established'] ? { tcpEstablished: true } : {}),
    });
    process.stderr.write(`dumped ${r.processes} process(es), ${r.threads} thread(s), ${(r.pagesBytes / 1048576).toFixed(1)} MiB of pages in ${r.totalMs.toFixed(0)} ms (frozen ${r.freezeMs.toFixed(0)} ms)${argv['leave-running'] ? '; left running' : ''}\n`);
    return 0;
  },
};
