// When pre-copy freezes, decided from link sizes and durations alone: QEMU's rule, links that
// still halve are worth another round, the last link must be small too, and auto-converge steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Convergence, THROTTLE_INITIAL, THROTTLE_STEP } from '../../src/coordinator/converge.js';

const MB = 1e6;
const opts = { maxDowntimeMs: 300, maxIterations: 30, maxPrecopyMs: 600_000, autoConverge: true };
// a link of `mb` megabytes at 300 MB/s, plus 100 ms of fixed cost
const link = (mb: number) => ({ bytes: mb * MB, ms: (mb / 300) * 1000 + 100, bandwidth: 300 * MB });

test('a process that dirties little: one more link and the rest is a few milliseconds', () => {
  const c = new Convergence(opts, 0);
  assert.equal(c.add(link(1024)).action, 'iterate'); // everything; no rate known yet
  // 10 MB/s over the first link's 3.5 s: the next would carry 2 MB, 7 ms
  const v = c.add(link(35));
  assert.equal(v.action, 'freeze');
  assert.match((v as { why: string }).why, /fits the downtime target/);
  assert.ok(c.estimate().expectedDowntimeMs < 10);
});

test('links that still halve are worth another round, though the rest already fits; not once they stop halving', () => {
  const c = new Convergence(opts, 0);
  c.add(link(1024));
  // 60 MB/s: the next link would carry 48 MB, 160 ms: fits 300 ms, but halves
  assert.equal(c.add(link(210)).action, 'iterate');
  assert.equal(c.add(link(48)).action, 'iterate');
  // the fixed cost of a link keeps the next one at about 9 MB: no longer half of this one
  assert.equal(c.add(link(15.6)).action, 'freeze');
});

test('a link too big to build in the downtime target is followed by another, even when the rest fits', () => {
  const c = new Convergence({ ...opts, maxDowntimeMs: 50 }, 0);
  c.add(link(1024));
  // 40 MB: the rest is expected small (fits 50 ms), but this link takes 133 ms to carry and build
  assert.equal(c.add({ bytes: 40 * MB, ms: 150, bandwidth: 300 * MB }).action, 'iterate');
});

test('a process that dirties faster than the link: auto-converge 20%, then +10% per link that still fails', () => {
  const c = new Convergence(opts, 0);
  c.add(link(1024));
  assert.deepEqual(c.add(link(1000)), { action: 'iterate' }); // more than half, once
  assert.deepEqual(c.add(link(1000)), { action: 'iterate', throttle: THROTTLE_INITIAL });
  assert.deepEqual(c.add(link(990)), { action: 'iterate', throttle: THROTTLE_INITIAL + THROTTLE_STEP });
});

test('bounds: at --max-iterations it freezes whatever the estimate, and says why', () => {
  const c = new Convergence({ ...opts, maxIterations: 3, autoConverge: false }, 0);
  c.add(link(1024));
  c.add(link(1000));
  const v = c.add(link(1000));
  assert.equal(v.action, 'freeze');
  assert.match((v as { why: string }).why, /3 iterations, the most allowed/);
});
