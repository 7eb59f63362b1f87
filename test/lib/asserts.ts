// Assertions shared by the test files.
import assert from 'node:assert/strict';
import { notPassing, type CliResult, type Verdict } from './harness.js';

/** No JavaScript stack trace in what a user sees. */
export function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, `a stack trace leaked:\n${text}`);
}

/** A refusal: non-zero exit, a short message (a few lines), no stack trace, saying each of `mustSay`. */
export function assertRefused(r: CliResult, mustSay: RegExp[]): void {
  assert.notEqual(r.code, 0, `godwit succeeded:\n${r.stdout}${r.stderr}`);
  assertNoStack(r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => l.trim());
  assert.ok(lines.length >= 1 && lines.length <= 5, `expected a short message, got:\n${r.stderr}`);
  for (const re of mustSay) assert.match(r.stderr, re);
}

/** The program printed PASS and exited with status 0 (when its status could be seen). */
export function assertPass(v: Verdict): void {
  const bad = notPassing(v);
  assert.ok(bad === null, bad ?? '');
}

/** `null` means fine; anything else is the reason. */
export function assertNull(why: string | null): void {
  assert.ok(why === null, why ?? '');
}
