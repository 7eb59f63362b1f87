// godwit command line. Each command lives in its own module; this file wires them into yargs and
// turns errors into one clear line and an exit code (never a stack trace unless -v).
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { pino } from 'pino';
import { GodwitError, errorMessage } from '../core/errors.js';
import { setLogger } from '../core/log.js';
import { checkCommand } from './check.js';
import { dumpCommand } from './dump.js';
import { restoreCommand } from './restore.js';
import { inspectCommand } from './inspect.js';
import { preDumpCommand } from './predump.js';
import { untrackCommand } from './untrack.js';
import { agentCommand } from './agent.js';
import { migrateCommand } from './migrate.js';
import { coordinatorCommand } from './coordinator.js';
import type { CommandModule } from './command.js';

let verbose = 0;

function configureLogging(v: number): void {
  verbose = v;
  const level = process.env.GODWIT_LOG ?? (v >= 2 ? 'trace' : v === 1 ? 'debug' : 'warn');
  setLogger(pino({ level, base: undefined }, pino.destination(2)));
}

function fail(e: unknown): never {
  if (e instanceof GodwitError) {
    process.stderr.write(`godwit: ${e.message}\n`);
    if (verbose && e.cause) process.stderr.write(`  cause: ${errorMessage(e.cause)}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`godwit: internal error: ${errorMessage(e)}\n`);
  if (verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  else process.stderr.write('  (run again with -v for details)\n');
  process.exit(70);
}

const commands: CommandModule[] = [checkCommand, preDumpCommand, dumpCommand, restoreCommand, inspectCommand, untrackCommand, agentCommand, migrateCommand, coordinatorCommand];

async function main(): Promise<void> {
  let y: Argv = yargs(hideBin(process.argv))
    .scriptName('godwit')
    .usage('godwit: live migration of running Linux processes\n\nUsage: $0 <command> [options]')
    .option('verbose', { alias: 'v', type: 'count', describe: 'more log output on stderr (-vv for trace)' })
    .middleware((argv) => configureLogging(Number(argv.verbose ?? 0)))
    .strict()
    .demandCommand(1, 'give a command; see godwit --help')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .epilog([
      'Three ways to migrate a process, one state machine:',
      '  the command line:  godwit migrate --pid 4242 --from hostA --to hostB',
      '  the coordinator:   godwit coordinator --listen 127.0.0.1:7750 --hosts /etc/godwit/hosts',
      '                     then the dashboard at http://127.0.0.1:7750/, or POST /api/migrations',
      '  Ansible:           ansible-playbook deploy/ansible/migrate.yml -e godwit_pid=4242 -e godwit_from=hostA -e godwit_to=hostB',
      'Agents run on every host: godwit agent --listen ADDRESS --token-file /etc/godwit/token',
    ].join('\n'))
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) fail(err);
      process.stderr.write(`godwit: ${msg}\n(see godwit --help)\n`);
      process.exit(2);
    });
  for (const c of commands) {
    y = y.command(c.command, c.describe, c.builder, async (argv) => {
      try {
        // yargs renders its help text (40 ms) as soon as a handler first waits: let it do that
        // now, not in the middle of a dump's freeze or a restore
        await new Promise((r) => setImmediate(r));
        const code = await c.handler(argv as Record<string, unknown>);
        process.exitCode = code;
      } catch (e) {
        fail(e);
      }
    });
  }
  await y.parseAsync();
}

main().catch(fail);
