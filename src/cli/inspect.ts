import type { CommandModule } from './command.js';
import { inspectImage } from '../core/inspect.js';

function mib(n: number): string { return `${(n / 1048576).toFixed(1)} MiB`; }

export const inspectCommand: CommandModule = {
  command: 'inspect <dir>',
  describe: 'show what an image holds',
  builder: (y) => y
    .positional('dir', { type: 'string', describe: 'image directory' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
  handler: async (argv) => {
    const s = inspectImage(String(argv.dir));
    if (argv.json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      return 0;
    }
    const out: string[] = [];
    out.push(`image ${s.dir}: format ${s.format}, godwit ${s.godwit}, kernel ${s.kernel}, made ${s.created}`);
    if (s.parent) {
      out.push(`pre-dump chain, oldest first (a restore takes each page from the newest link that holds it):`);
      for (const l of s.chain) out.push(`  ${l.kind.padEnd(8)} ${l.dir}: ${l.pages} pages (${mib(l.pages * 4096)})`);
    }
    out.push(`${s.processes.length} process(es), ${mib(s.totalPageBytes)} of pages`);
    for (const p of s.processes) {
      out.push(`  pid ${p.pid} (${p.comm}) ppid ${p.ppid} pgid ${p.pgid} sid ${p.sid}${p.zombie ? ' zombie' : ''}`);
      if (p.zombie) continue;
      out.push(`    exe ${p.exe}, cwd ${p.cwd}`);
      out.push(`    threads ${p.threads.join(' ')}; ${p.vmas} mappings; ${p.pages} pages (${mib(p.pageBytes)})${p.zeroBytes ? `, ${mib(p.zeroBytes)} recorded as zero` : ''}`);
      for (const f of p.fds) out.push(`    fd ${f.fd}: ${f.kind} ${f.target}`);
    }
    if (s.external.length) out.push(`external peers (their other end was outside the tree; restore --inherit-fd fd[N]:KEY replaces one):`);
    for (const o of s.external) {
      const dir = o.direction === 'out' ? 'the tree writes' : o.direction === 'in' ? 'the tree reads' : 'both ways';
      out.push(`  ${o.key}: ${o.kind}, ${dir}${o.peerName ? `, peer ${o.peerName}` : ''}; ${o.users.map((u) => `pid ${u.pid} fd ${u.fd}`).join(', ')}`);
    }
    if (s.ipc.length) out.push(`System V IPC (made again with these ids and keys):`);
    for (const o of s.ipc) out.push(`  ${o.kind} id ${o.id} key ${o.key} mode ${o.mode} owner ${o.owner}: ${o.what}`);
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};
