#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// lz4-napi allocates with its own mimalloc, which by default keeps freed memory for later; an
// agent streaming gigabytes would keep its busiest moment's worth. Read when that allocator
// starts, so before anything loads lz4-napi.
process.env.MIMALLOC_PURGE_DELAY ??= '0';
process.env.MIMALLOC_PURGE_DECOMMITS ??= '1';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('godwit: not built yet; run `npm install` (or `npm run build`) in the repository first\n');
  process.exit(70);
}
await import(main.href);
