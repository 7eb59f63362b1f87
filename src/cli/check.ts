import type { CommandModule } from './command.js';
import { checkHost } from '../core/check.js';

export const checkCommand: CommandModule = {
  command: 'check',
  describe: 'probe what this host\'s kernel lets godwit do',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
  handler: async (argv) => {
    const r = checkHost();
    if (argv.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    } else {
      const w = Math.max(...r.probes.map((p) => p.name.length));
      const out = [`godwit check: kernel ${r.kernel}`, ''];
      for (const p of r.probes) {
        out.push(`${p.ok ? 'yes' : 'NO '}  ${p.name.padEnd(w)}  ${p.detail}`);
        out.push(`     ${' '.repeat(w)}  -> ${p.consequence}`);
      }
      out.push('', `dirty-page tracking for pre-copy: ${r.tracking}`);
      out.push(`dump: ${r.canDump ? 'yes' : 'no'}, restore: ${r.canRestore ? 'yes' : 'no'}`);
      process.stdout.write(out.join('\n') + '\n');
    }
    return r.canDump && r.canRestore ? 0 : 1;
  },
};
