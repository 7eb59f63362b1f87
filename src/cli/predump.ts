import type { CommandModule } from './command.js';
import { treeOption, imagesDirOption, prevImagesDirOption, parseSize } from './options.js';
import { preDump } from '../core/predump.js';
import type { TrackBackend } from '../core/mem/track/tracker.js';

export const preDumpCommand: CommandModule = {
  command: 'pre-dump',
  describe: 'copy a tree\'s memory while it keeps running (the links of a pre-copy chain)',
  builder: (y) => y
    .option('tree', treeOption)
    .option('images-dir', imagesDirOption('directory to write this link to'))
    .option('prev-images-dir', prevImagesDirOption('the previous link (absolute, or relative to -D as in CRIU)'))
    .option('track', { type: 'string', choices: ['uffd', 'soft-dirty', 'hash'], describe: 'dirty-tracking backend (default: the best godwit check finds)' })
    .option('max-bytes', { type: 'string', describe: 'carry at most this much memory not sent before (512M, 2G); the rest goes into the next link' })
    .example('$0 pre-dump -t 1234 -D /img/1', 'first link: every present page')
    .example('$0 pre-dump -t 1234 -D /img/2 --prev-images-dir ../1', 'next link: pages written since')
    .example('$0 pre-dump -t 1234 -D /img/1 --max-bytes 512M', 'a first link of 512 MiB at most; the next one carries the rest')
    .example('$0 dump -t 1234 -D /img/3 --prev-images-dir ../2', 'the final dump, with what changed last'),
  handler: async (argv) => {
    const r = await preDump({
      pid: Number(argv.tree), dir: String(argv['images-dir']),
      ...(argv['prev-images-dir'] ? { prev: String(argv['prev-images-dir']) } : {}),
      ...(argv.track ? { track: argv.track as TrackBackend } : {}),
      ...(argv['max-bytes'] !== undefined ? { maxBytes: parseSize('max-bytes', String(argv['max-bytes']), 1 << 20) } : {}),
    });
    const owed = r.owedBytes ? `; ${(r.owedBytes / 1048576).toFixed(1)} MiB left for the next link` : '';
    process.stderr.write(`pre-dumped ${r.processes} process(es): ${(r.pagesBytes / 1048576).toFixed(1)} MiB in ${r.totalMs.toFixed(0)} ms (frozen ${r.freezeMs.toFixed(1)} ms, tracking: ${r.backend})${owed}\n`);
    return 0;
  },
};
