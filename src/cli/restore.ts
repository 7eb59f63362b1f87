import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandModule } from './command.js';
import { imagesDirOption } from './options.js';
import { restore } from '../core/restore.js';
import { serveBuilder } from '../core/builder/serve.js';
import { GodwitError } from '../core/errors.js';
import { spawnInNewPidns, outerPid, nextLine } from '../core/pidns.js';
import { describePeer, parseInheritFd, type RestorePeerOptions } from '../core/files/external.js';

/** `--inherit-fd`, `--ext-unix-sk`, `--capture-dir`; bad input is exit code 2. */
function peerOptions(argv: Record<string, unknown>, dir: string): RestorePeerOptions {
  const inherit = new Map<string, number>();
  for (const s of (argv['inherit-fd'] as string[] | undefined) ?? []) {
    const v = parseInheritFd(String(s));
    if (!v) throw new GodwitError(`--inherit-fd ${s}: expected fd[N]:KEY, e.g. fd[3]:pipe:[12345] (the keys are in godwit inspect)`, 2);
    if (inherit.has(v.key)) throw new GodwitError(`--inherit-fd: ${v.key} is given twice`, 2);
    inherit.set(v.key, v.fd);
  }
  const captureDir = resolve(argv['capture-dir'] === undefined ? join(dir, 'captured') : String(argv['capture-dir']));
  return { inherit, captureDir, reconnectUnix: Boolean(argv['ext-unix-sk']) };
}

/** The same choices, for the restorer inside a new PID namespace. */
function peerArgs(argv: Record<string, unknown>): string[] {
  return [...(argv['ext-unix-sk'] ? ['--ext-unix-sk'] : []), ...(argv['capture-dir'] !== undefined ? ['--capture-dir', resolve(String(argv['capture-dir']))] : [])];
}

export const restoreCommand: CommandModule = {
  command: 'restore',
  describe: 'rebuild a process tree from an image, with its original PIDs',
  builder: (y) => y
    .option('images-dir', imagesDirOption('image directory'))
    .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return once the tree runs and print the root PID' })
    .option('pidfile', { type: 'string', describe: 'write the root PID to this file' })
    .option('shell-job', { alias: 'j', type: 'boolean', default: false, describe: 'restore a shell job onto this terminal, in this session' })
    .option('new-pidns', { type: 'boolean', default: false, describe: 'restore into a fresh PID namespace (under an init of ours), where the tree keeps its PIDs even if they are taken here' })
    .option('inherit-fd', { type: 'string', array: true, describe: 'fd[N]:KEY: the tree gets this restorer\'s fd N in place of its external object KEY (pipe:[INO], socket:[INO], a FIFO\'s path; see inspect); repeatable' })
    .option('ext-unix-sk', { type: 'boolean', default: false, describe: 'connect a unix stream socket whose peer was outside the tree again to that peer\'s name, where something listens there' })
    .option('capture-dir', { type: 'string', describe: 'where the output the tree sends to external peers is captured (default: DIR/captured)' })
    // an agent's builder of one incoming migration (core/builder/serve.ts), driven over stdin
    .option('builder', { type: 'string', hidden: true })
    .example('$0 restore -D /tmp/img -d', 'restore in the background')
    .example('$0 restore -D /tmp/img -d --new-pidns', 'restore where the PIDs of the tree are taken'),
  handler: async (argv) => {
    const dir = String(argv['images-dir']);
    const peers = peerOptions(argv, dir);
    if (argv.builder !== undefined) return serveBuilder(String(argv.builder), peers, process.stdin, (m) => { process.stdout.write(`${JSON.stringify(m)}\n`); });
    if (argv['new-pidns'] && argv['shell-job']) throw new GodwitError('--new-pidns and --shell-job do not go together: a shell job stays in its session here', 2);
    if (argv['new-pidns'] && peers.inherit.size) throw new GodwitError('--new-pidns and --inherit-fd do not go together yet: the restorer inside the namespace does not get your fds', 2);
    if (argv['new-pidns']) return inNewPidns(dir, Boolean(argv.detach), argv.pidfile === undefined ? undefined : String(argv.pidfile), peerArgs(argv));
    const r = await restore({
      dir, detach: Boolean(argv.detach), shellJob: Boolean(argv['shell-job']), peers,
      ...(argv.pidfile ? { pidfile: String(argv.pidfile) } : {}),
    });
    for (const p of r.external) process.stderr.write(`godwit: external peer ${describePeer(p)}\n`);
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

/** `restore --new-pidns`: the same restore, run by a godwit inside a new PID namespace. */
async function inNewPidns(dir: string, detach: boolean, pidfile: string | undefined, extra: string[]): Promise<number> {
  const args = ['-D', dir, ...(detach ? ['-d'] : []), ...extra];
  if (!detach) {
    // in the foreground, the tree's exit status is the inner restore's
    const p = spawnInNewPidns(args, 'inherit');
    return await new Promise<number>((resolve) => p.on('close', (code, sig) => resolve(code ?? 128 + (sig ? 15 : 0))));
  }
  // the namespace lives as long as the tree (unshare waits for its init): read the root's PID,
  // not the end
  const p = spawnInNewPidns(args, 'pipe');
  p.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  const rl = createInterface({ input: p.stdout! });
  const first = await nextLine(rl);
  rl.close();
  const inner = Number(first?.trim());
  if (!inner) {
    const code = p.exitCode ?? await new Promise<number>((resolve) => p.on('close', (c) => resolve(c ?? 1)));
    return code || 1;
  }
  // the PID this host knows it by: the one to kill or watch from here
  const outer = outerPid(p.pid!, inner, true);
  p.stdin!.destroy();
  p.stdout!.destroy();
  p.stderr!.destroy();
  p.unref();
  process.stderr.write(`godwit: restored into a new PID namespace: PID ${inner} there, ${outer} on this host\n`);
  if (pidfile) writeFileSync(pidfile, `${outer}\n`);
  process.stdout.write(`${outer}\n`);
  return 0;
}
