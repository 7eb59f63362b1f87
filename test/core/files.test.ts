// Files (test/programs/files.c): offsets, flags, close-on-exec, a file and a pipe shared with a
// child (with unread data), /dev/null, the cwd, stdout and stderr on the log.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('files: descriptors with their offsets, flags and data come back', (t) => roundTripProgram(t, 'files'));
