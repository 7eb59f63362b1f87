import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import type { CommandModule } from './command.js';
import { imagesDirOption } from './options.js';
import { restore, buildTree } from '../core/restore.js';
import { GodwitError } from '../core/errors.js';
import { spawnInNewPidns, outerPid, nextLine } from '../core/pidns.js';

export const restoreCommand: CommandModule = {
  command: 'restore',
  describe: 'rebuild a process tree from an image, with its original PIDs',
  builder: (y) => y
    .option('images-dir', imagesDirOption('image directory'))
    .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return once the tree runs and print the root PID' })
    .option('pidfile', { type: 'string', describe: 'write the root PID to this file' })
    .option('shell-job', { alias: 'j', type: 'boolean', default: false, describe: 'restore a shell job onto this terminal, in this session' })
    .option('new-pidns', { type: 'boolean', default: false, describe: 'restore into a fresh PID namespace (under an init of ours), where the tree keeps its PIDs even if they are taken here' })
    // an agent's restore into a new PID namespace: build, say so, and wait for RUN on stdin
    .option('hold-stdin', { type: 'boolean', default: false, hidden: true })
    .example('$0 restore -D /tmp/img -d', 'restore in the background')
    .example('$0 restore -D /tmp/img -d --new-pidns', 'restore where the PIDs of the tree are taken'),
  handler: async (argv) => {
    const dir = String(argv['images-dir']);
    if (argv['hold-stdin']) return holdOnStdin(dir);
    if (argv['new-pidns'] && argv['shell-job']) throw new GodwitError('--new-pidns and --shell-job do not go together: a shell job stays in its session here', 2);
    if (argv['new-pidns']) return inNewPidns(dir, Boolean(argv.detach), argv.pidfile === undefined ? undefined : String(argv.pidfile));
    const r = await restore({
      dir, detach: Boolean(argv.detach), shellJob: Boolean(argv['shell-job']),
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

/**
 * The restore inside the namespace, for whoever started it (an agent, or `restore --new-pidns`):
 * `BUILT <root> <ms>` on stdout, then RUN on stdin lets the tree go, anything else (or stdin
 * closing: the caller is gone) discards it.
 */
async function holdOnStdin(dir: string): Promise<number> {
  const tree = await buildTree({ dir, detach: true });
  process.stdout.write(`BUILT ${tree.root} ${tree.buildMs.toFixed(1)}\n`);
  const rl = createInterface({ input: process.stdin });
  const line = await nextLine(rl);
  rl.close();
  if (line?.trim() === 'RUN') {
    tree.run();
    process.stdout.write('RAN\n');
  } else {
    tree.discard();
    process.stdout.write('DISCARDED\n');
  }
  return 0;
}

/** `restore --new-pidns`: the same restore, run by a godwit inside a new PID namespace. */
async function inNewPidns(dir: string, detach: boolean, pidfile: string | undefined): Promise<number> {
  const args = ['-D', dir, ...(detach ? ['-d'] : [])];
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
