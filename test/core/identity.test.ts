// Identity (test/programs/identity.c): uids, gids and groups dropped to non-root, capabilities,
// umask, rlimits, comm, personality.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('identity: credentials, umask, rlimits, comm and personality come back', (t) => roundTripProgram(t, 'identity'));
