// Paths of the C helpers built into native/build at install time.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GodwitError } from './errors.js';

// compiled to dist/src/core/native.js; the helpers live in <repo>/native/build
const BUILD = new URL('../../../native/build/', import.meta.url);

export function nativeHelper(name: 'godwit-seed' | 'godwit-sink' | 'godwit-pidhold'): string {
  const p = fileURLToPath(new URL(name, BUILD));
  if (!existsSync(p)) throw new GodwitError(`helper ${p} is missing: run \`npm run build:native\` (needs a C compiler)`, 70);
  return p;
}
