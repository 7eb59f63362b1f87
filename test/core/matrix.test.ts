// The kernel-object matrix: every program in test/matrix follows the protocol of
// test/programs/proto.h (set up, READY, get dumped and restored, check on SIGUSR2, PASS/FAIL).
// Adding a kind to the matrix is adding a file there. One line per program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, buildProgram, launch, roundTrip, verdict } from '../lib/harness.js';

const dir = join(ROOT, 'test', 'matrix');
const programs = readdirSync(dir).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2)).sort();
let passed = 0;

for (const name of programs) {
  test(`matrix: ${name}`, async (t) => {
    const src = readFileSync(join(dir, `${name}.c`), 'utf8');
    const libs = /^\/\/ libs: (.*)$/m.exec(src)?.[1]?.split(' ') ?? [];
    const target = await launch(t, name, [buildProgram(`../matrix/${name}`, libs)]);
    const kids = (/child=(\d+)/.exec(readFileSync(target.log, 'utf8')) ?? []).slice(1).map(Number);
    await roundTrip(target, kids);
    const v = await verdict(target);
    assert.match(v, /^PASS/, v);
    passed++;
  });
}

test('matrix: summary', (t) => {
  t.diagnostic(`matrix: ${programs.length} programs, ${passed} PASS`);
});
