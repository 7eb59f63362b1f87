// Remote syscalls in batches (Injection.batch), on a real process frozen by ptrace: the calls run
// in order with their results, a failure is a result of batchRaw and an error naming the call
// from batch, more calls than one table holds still all run, and the process goes on as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, launch, verdict } from '../lib/harness.js';
import { freezeTree, thawTree } from '../../src/core/ptrace/freeze.js';
import { Injection, findSyscallInsn } from '../../src/core/ptrace/inject.js';
import { ProcMem } from '../../src/core/ptrace/memory.js';
import { NR } from '../../src/core/sys/nr.js';
import { MAP, PROT } from '../../src/core/sys/mman.js';
import { readMaps } from '../../src/core/proc/smaps.js';

const EINVAL = 22;

test('a batch of remote syscalls: results in order, failures where they belong, the process untouched', async (t) => {
  const target = await launch(t, 'batch', [buildProgram('plain')]);
  const tree = freezeTree(target.pid);
  const probe = new ProcMem(target.pid);
  const inj = new Injection(target.pid, findSyscallInsn(target.pid, probe));
  probe.close();
  try {
    inj.mapScratch();
    const len = 64 * 4096;
    inj.reset(16);
    const [pid, bad, at] = inj.batchRaw([
      { nr: NR.getpid, args: [] },
      { nr: NR.munmap, args: [1, 4096] },
      { nr: NR.mmap, args: [0, len, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS, -1, 0] },
    ]);
    assert.equal(pid, target.pid);
    assert.equal(bad, -EINVAL);
    assert.ok(readMaps(target.pid).some((v) => v.start === at && v.end === at! + len), 'the mapping is there');
    // two thousand calls: more than one table holds
    inj.reset(16);
    const many = inj.batch(Array.from({ length: 2000 }, (_, i) => ({
      name: 'mprotect', nr: NR.mprotect, args: [at! + (i % 64) * 4096, 4096, i % 2 ? PROT.READ : PROT.READ | PROT.WRITE],
    })));
    assert.equal(many.length, 2000);
    assert.ok(many.every((r) => r === 0));
    inj.reset(16);
    assert.throws(() => inj.batch([
      { name: 'munmap', nr: NR.munmap, args: [at!, len] },
      { name: 'munmap(unaligned)', nr: NR.munmap, args: [1, 4096] },
    ]), /remote munmap\(unaligned\) failed: EINVAL/);
    assert.ok(!readMaps(target.pid).some((v) => v.start === at), 'the calls before the failure ran');
    inj.unmapScratch();
  } finally {
    inj.releaseThreads();
    inj.close();
    thawTree(tree);
  }
  assert.match(await verdict(target), /^PASS/);
});
