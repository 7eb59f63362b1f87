// A Node.js HTTP server with state (a hit counter, 200k objects on the heap): after a dump and
// restore it must still answer on the same port, its counter going on.
const http = require('http');
let hits = 0;
const big = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i }));
const sum = () => big.reduce((a, o) => a + o.i, 0);
const expected = sum();
const srv = http.createServer((req, res) => {
  hits++;
  res.end(JSON.stringify({ hits, pid: process.pid, heapOk: sum() === expected }));
});
srv.listen(0, '127.0.0.1', () => console.log(`READY ${process.pid} port=${srv.address().port}`));
