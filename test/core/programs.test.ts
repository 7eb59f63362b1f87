// Each program sets up state, is dumped (and killed) by godwit, restored with its PIDs, and then
// checks from the inside that everything is as it was (test/programs/*.c, proto.h).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch, buildProgram, roundTrip, verdict, godwit, type Target } from '../lib/harness.js';

const cases: Array<{ name: string; libs?: string[]; extra?: (t: Target) => number[]; image?: (img: string) => void }> = [
  {
    name: 'memory',
    // it maps 1 GiB and touches 16 pages of it: the image holds what was touched, not the mapping
    image: (img) => {
      const s = JSON.parse(godwit(['inspect', img, '--json']).stdout) as { totalPageBytes: number };
      assert.ok(s.totalPageBytes < 64 << 20, `image holds ${s.totalPageBytes} bytes of pages`);
    },
  },
  { name: 'threads' },
  { name: 'tree', extra: (t) => (/children=(\d+),(\d+) grandchild=(\d+)/.exec(require_log(t)) ?? []).slice(1).map(Number) },
  { name: 'cpu', libs: ['-lm'] },
  { name: 'signals' },
  { name: 'identity' },
  { name: 'files' },
  { name: 'zombies', extra: (t) => (/child=(\d+),(\d+),(\d+)/.exec(require_log(t)) ?? []).slice(1).map(Number) },
];

import { readFileSync } from 'node:fs';
function require_log(t: Target): string { return readFileSync(t.log, 'utf8'); }

for (const c of cases) {
  test(`${c.name}: state comes back exactly after dump and restore`, async (t) => {
    const bin = buildProgram(c.name, c.libs);
    const target = await launch(t, c.name, [bin]);
    const dir = target.dir;
    const extra = c.extra?.(target) ?? [];
    await roundTrip(target, extra);
    c.image?.(join(dir, 'img'));
    const v = await verdict(target);
    assert.match(v, /^PASS/, v);
  });
}
