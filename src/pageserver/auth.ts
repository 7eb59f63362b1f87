// The shared cluster token and the challenge-response built on it. Both sides prove they hold the
// token by an HMAC over two fresh nonces, one from each side, so the token never crosses the wire
// and a recorded exchange cannot be replayed.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { GodwitError } from '../core/errors.js';
import { NONCE_BYTES } from './protocol.js';

export const MIN_TOKEN_BYTES = 16;

/** Read a token file: its first line, at least 16 bytes, not readable by group or others. */
export function readToken(file: string): Buffer {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new GodwitError(`token file ${file} is not a regular file`, 2);
    if (st.mode & 0o077) throw new GodwitError(`token file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`, 2);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof GodwitError) throw e;
    throw new GodwitError(`cannot read token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
  const token = Buffer.from(text.split('\n')[0]!.trim(), 'utf8');
  if (token.length < MIN_TOKEN_BYTES) throw new GodwitError(`token file ${file}: the token must be at least ${MIN_TOKEN_BYTES} bytes`, 2);
  return token;
}

export function nonce(): Buffer { return randomBytes(NONCE_BYTES); }

export function proof(token: Buffer, side: 'client' | 'server', serverNonce: Uint8Array, clientNonce: Uint8Array): Buffer {
  return createHmac('sha256', token).update(`godwit-${side}\0`).update(serverNonce).update(clientNonce).digest();
}

export function proofMatches(expected: Buffer, got: Uint8Array): boolean {
  return got.length === expected.length && timingSafeEqual(expected, got);
}
