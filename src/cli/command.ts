import type { Argv } from 'yargs';

/** A CLI command: yargs wiring plus a handler that returns the exit code. */
export interface CommandModule {
  command: string | string[];
  describe: string;
  builder: (y: Argv) => Argv;
  handler: (argv: Record<string, unknown>) => Promise<number>;
}
