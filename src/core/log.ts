// The core logs through one pino logger that the embedding program configures (CLI: stderr,
// agent: its own destination). Modules take child loggers from it so every line says where it
// came from.
import { pino, type Logger } from 'pino';

let root: Logger = pino({ level: process.env.GODWIT_LOG ?? 'warn', base: undefined }, pino.destination(2));

export function setLogger(l: Logger): void { root = l; }
export function logger(module: string): Logger { return root.child({ module }); }
export function rootLogger(): Logger { return root; }
export type { Logger };
