// Holds a uffd tracker on a PID until killed: the test kills it with SIGKILL.
import { startTracker } from '../../src/core/mem/track/index.js';

const tracker = startTracker(Number(process.argv[2]), 'uffd');
tracker.collect();
process.stdout.write('TRACKING\n');
setInterval(() => tracker.collect(), 50);
