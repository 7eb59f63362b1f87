// godwit check on this machine kind: what KERNEL.md measured must be found again at run time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { godwit } from './lib/harness.js';

interface Report { probes: Array<{ name: string; ok: boolean; detail: string; consequence: string }>; tracking: string; canDump: boolean; canRestore: boolean; xsaveSize: number }

test('check --json finds the features dump and restore rely on', () => {
  const r = godwit(['check', '--json']);
  const rep = JSON.parse(r.stdout) as Report;
  const ok = (n: string) => rep.probes.find((p) => p.name === n)?.ok;
  for (const n of ['root privileges', 'ptrace', 'clone3 with set_tid', 'pidfd_getfd', 'process_vm_readv/writev', 'PR_SET_MM_MAP', 'TCP repair']) {
    assert.equal(ok(n), true, `${n}: ${JSON.stringify(rep.probes.find((p) => p.name === n))}`);
  }
  assert.ok(rep.canDump && rep.canRestore);
  assert.equal(r.code, 0);
  assert.ok(rep.xsaveSize > 512, 'xsave size comes from the kernel');
  // the tracking backend follows what was found: uffd when both halves work, else soft-dirty, else hash
  const uffd = ok('userfaultfd write-protect (async)') && ok('PAGEMAP_SCAN ioctl');
  assert.equal(rep.tracking, uffd ? 'uffd' : ok('soft-dirty bit') ? 'soft-dirty' : 'hash');
  for (const p of rep.probes) assert.ok(p.consequence.length > 10, `${p.name} says what follows`);
});

test('check prints every probe for people, and works for a non-root user', () => {
  const r = godwit(['check']);
  const rep = JSON.parse(godwit(['check', '--json']).stdout) as Report;
  for (const p of rep.probes) assert.ok(r.stdout.includes(p.name), p.name);
  const nr = godwit(['check'], { uid: 65534 });
  assert.equal(nr.code, 1);
  assert.match(nr.stdout, /godwit needs root/);
  assert.doesNotMatch(nr.stderr, /\n\s+at /);
});
