// The coordinator's dashboard in a real browser (headless Chromium through playwright-core),
// against a real `godwit coordinator` and two simulated hosts: a user sees both hosts healthy,
// picks host A, finds a 64 MiB counting program among its processes, runs the preflight of a move
// to B, confirms, watches the phases and bytes go by, and opens the report from the history with
// its two charts. Then, as the user would check: the program runs on B, counts on and every page
// of its memory is what it was. A move back, cancelled during its pre-copy, rolls back. A hostile
// command line on A is shown as text, never run.
// Screenshots of each step are kept in test/artifacts/dashboard/ (git-ignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT, buildProgram, askVerdict, notPassing, waitForLog, sleep, tempDir, cleanup } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile } from '../lib/migrate.js';
import { probeTracking } from '../../src/core/check.js';
import type { MigrationReport } from '../../src/coordinator/migration.js';

const CHROMIUM = '/usr/lib/chromium/chromium';
const ARTIFACTS = join(ROOT, 'test', 'artifacts', 'dashboard');
/** a command line a user of a host controls: the page must show it, not run it */
const HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Seen { id: string; phase: string; phaseText: string; sent: string; left: string; dirty: string; expected: string }

test('the dashboard: hosts, processes, preflight, a live migration with its progress, history and report charts, a cancel', { timeout: 150_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) { t.skip(`chromium is not installed at ${CHROMIUM} (apt-get install chromium)`); return; }
  const t0 = Date.now();
  const lap = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  let coordinator: ChildProcess | null = null;
  let browser: Browser | null = null;
  const work = tempDir('dashboard');
  // registered first: whatever order node runs them in, the browser and the service go, then the hosts
  t.after(async () => {
    await browser?.close().catch(() => undefined);
    if (coordinator && coordinator.exitCode === null && coordinator.signalCode === null) {
      coordinator.kill('SIGTERM');
      for (let i = 0; i < 100 && coordinator.exitCode === null && coordinator.signalCode === null; i++) await sleep(50);
      if (coordinator.exitCode === null && coordinator.signalCode === null) coordinator.kill('SIGKILL');
    }
    cleanup(work);
  });

  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS)) if (/^\d\d-.*\.png$/.test(f)) rmSync(join(ARTIFACTS, f));
  const shots: string[] = [];
  let page: Page | null = null;
  const shot = async (name: string): Promise<void> => {
    if (!page) return;
    const path = join(ARTIFACTS, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
    // the header is sticky: from the top, a full-page shot shows it where it belongs
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path, fullPage: true });
    shots.push(path);
    t.diagnostic(`screenshot ${path} (${lap()})`);
  };

  // 1. two hosts; this thread (and what it spawns: the service, the browser) is on their wire now
  const c = await simulatedHosts(t);
  const hostsFile = writeHostsFile(c);

  // 2. the service, on loopback
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = join(work, 'coordinator.log');
  const out = openSync(log, 'a');
  coordinator = spawn(process.execPath, [join(ROOT, 'bin', 'godwit.js'), 'coordinator', '--listen', `127.0.0.1:${port}`, '--hosts', hostsFile,
    '--db', join(work, 'coord.db'), '--token-file', c.tokenFile], { cwd: ROOT, stdio: ['ignore', out, out] });
  closeSync(out);
  const logTail = (): string => { try { return readFileSync(log, 'utf8').slice(-3000); } catch { return ''; } };
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/api/hosts`).then((r) => r.ok, () => false);
    if (ok) break;
    if (coordinator.exitCode !== null) assert.fail(`the coordinator exited (${coordinator.exitCode}):\n${logTail()}`);
    if (i > 300) assert.fail(`the coordinator did not answer in 15 s:\n${logTail()}`);
    await sleep(50);
  }
  t.diagnostic(`coordinator on ${url} (${lap()})`);

  // 3. the program to move, and a process with a hostile command line beside it
  const target = await c.launch('a', 'dash', [buildProgram('bigcounter'), '64', '10']);
  await waitForLog(target.log, /^TICK \d+$/m);
  const nsPid = target.nsPid!;
  const hostile = spawnSync('nsenter', ['-t', String(c.hosts.a!.init), '-p', '-m', '--', 'bash', '-c',
    'exec -a "$1" sleep 600 </dev/null >/dev/null 2>&1 & echo $!', 'bash', HOSTILE], { encoding: 'utf8' });
  const hostilePid = Number(hostile.stdout.trim());
  assert.ok(hostilePid > 0, `the hostile process did not start: ${hostile.stderr}`);

  // 4. the browser
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  const p = page;
  const byId = (id: string, within = ''): string => `${within}[data-testid="${id}"]`.trim();

  try {
    await p.goto(`${url}/`);
    assert.equal(await p.title(), 'godwit coordinator');
    // both hosts healthy (checked at start, then every 5 s; the page learns it from the stream)
    for (const h of ['a', 'b']) {
      await p.waitForSelector(`${byId(`host-${h}`)} ${byId('health')}[data-up="true"]`, { timeout: 15_000 });
      assert.equal((await p.textContent(`${byId(`host-${h}`)} ${byId('health')}`))?.trim(), 'healthy');
    }
    await p.waitForSelector(`${byId('conn')}[data-state="live"]`, { timeout: 10_000 });
    await shot('hosts');

    // pick host a: its processes, the program among them with its RSS, the hostile line as text
    await p.click(byId('host-a'));
    const row = byId(`proc-${nsPid}`);
    await p.waitForSelector(row, { timeout: 15_000 });
    assert.match((await p.textContent(row)) ?? '', /bigcounter 64 10/);
    const rss = (await p.textContent(`${row} td[data-bytes]`))?.trim() ?? '';
    assert.match(rss, /^\d+(\.\d)? MiB$/, `RSS shown as ${rss}`);
    assert.ok(Number(rss.split(' ')[0]) >= 64, `RSS ${rss}: the program holds 64 MiB`);
    await p.waitForSelector(byId(`proc-${hostilePid}`));
    assert.equal((await p.textContent(`${byId(`proc-${hostilePid}`)} td.cmd`))?.trim(), `${HOSTILE} 600`);
    assert.equal(await p.locator(`${byId('processes')} img, ${byId('processes')} script`).count(), 0, 'markup from a command line made it into the page');
    assert.equal(await p.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'a command line ran as script');
    await shot('processes-a');

    // migrate: destination b, preflight ok, confirm
    await p.click(byId(`migrate-${nsPid}`));
    await p.waitForSelector(`${byId('migrate-dialog')}[open]`);
    await p.selectOption(byId('dest'), 'b');
    assert.equal(await p.isDisabled(byId('confirm-btn')), true, 'confirm before the preflight');
    await p.click(byId('preflight-btn'));
    await p.waitForSelector(`${byId('preflight-result')}:is([data-state="ok"], [data-state="refused"], [data-state="error"])`, { timeout: 30_000 });
    const pfText = (await p.textContent(byId('preflight-result'))) ?? '';
    assert.equal(await p.getAttribute(byId('preflight-result'), 'data-state'), 'ok', `preflight: ${pfText}`);
    assert.match(pfText, /preflight ok/);
    assert.match(pfText, /memory\s*\d+(\.\d)? MiB/, pfText);
    await shot('preflight');

    // what the running panel shows, every change of it, as the user saw it
    await p.evaluate(() => {
      const w = window as unknown as { __seen: Seen[] };
      w.__seen = [];
      const snap = (): void => {
        for (const n of document.querySelectorAll<HTMLElement>('[data-testid^="run-"]')) {
          const q = (id: string): Element | null => n.querySelector(`[data-testid="${id}"]`);
          const s: Seen = {
            id: n.dataset.id ?? '', phase: (q('phase') as HTMLElement | null)?.dataset.phase ?? '', phaseText: q('phase')?.textContent ?? '',
            sent: q('sent')?.textContent ?? '', left: q('left')?.textContent ?? '', dirty: q('dirty')?.textContent ?? '', expected: q('expected')?.textContent ?? '',
          };
          const last = w.__seen.filter((x) => x.id === s.id).pop();
          if (!last || JSON.stringify(last) !== JSON.stringify(s)) w.__seen.push(s);
        }
      };
      new MutationObserver(snap).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    const tConfirm = Date.now();
    await p.click(byId('confirm-btn'));
    const panel = p.locator('[data-testid^="run-"]').first();
    await panel.waitFor({ timeout: 10_000 });
    const id = (await panel.getAttribute('data-id'))!;
    assert.match(id, /^[0-9a-f]+$/);
    assert.equal(await p.isVisible(byId('migrate-dialog')), false, 'the dialog closes once the migration starts');
    await shot('running');
    await p.waitForSelector(`${byId(`run-${id}`)}[data-state="done"]`, { timeout: 60_000 });
    const migrationMs = Date.now() - tConfirm;
    const run = byId(`run-${id}`);
    assert.equal(await p.getAttribute(run, 'data-outcome'), 'migrated', `the panel says: ${await p.textContent(run)}`);
    assert.equal((await p.textContent(`${run} ${byId('status')}`))?.trim(), 'migrated');
    assert.equal(await p.getAttribute(`${run} ${byId('phase')}`, 'data-phase'), 'done');
    await shot('done');

    const seen = (await p.evaluate(() => (window as unknown as { __seen: Seen[] }).__seen)).filter((s) => s.id === id);
    const phases = [...new Set(seen.map((s) => s.phase).filter(Boolean))];
    t.diagnostic(`phases the panel showed: ${phases.join(' → ')}; ${seen.length} updates`);
    assert.ok(phases.length >= 4, `phases: ${phases.join(', ')}`);
    for (const ph of ['freeze', 'restore', 'done']) assert.ok(phases.includes(ph), `the panel never showed ${ph}: ${phases.join(', ')}`);
    const uffd = probeTracking().uffd;
    if (uffd) assert.ok(phases.includes('precopy'), `no pre-copy shown: ${phases.join(', ')}`);
    const bytesShown = seen.filter((s) => /^\d+(\.\d)? (KiB|MiB|GiB)$/.test(s.sent) || /^\d+(\.\d)? (KiB|MiB|GiB)$/.test(s.left));
    assert.ok(bytesShown.length > 0, `no bytes shown: ${JSON.stringify(seen.slice(0, 20))}`);
    const rates = seen.filter((s) => /\/s$/.test(s.dirty));
    if (uffd) assert.ok(rates.length > 0, 'the dirty rate was never shown');
    const expected = seen.map((s) => s.expected).filter((x) => x !== '–' && x !== '');
    t.diagnostic(`bytes shown ${bytesShown.length} times (e.g. sent ${bytesShown[0]?.sent}, left ${bytesShown[0]?.left}); dirty rate ${rates[rates.length - 1]?.dirty ?? '–'}; expected downtime ${expected[expected.length - 1] ?? '–'}`);

    // the history and the report
    const hist = byId(`hist-${id}`);
    await p.waitForSelector(`${hist}[data-outcome="migrated"]`, { timeout: 10_000 });
    assert.equal((await p.textContent(`${hist} ${byId('outcome')}`))?.trim(), 'migrated');
    await p.click(hist);
    await p.waitForSelector(`${byId('report')}[data-loaded="${id}"]`, { timeout: 10_000 });
    assert.equal((await p.textContent(`${byId('report')} ${byId('report-outcome')}`))?.trim(), 'migrated');
    const api = await (await fetch(`${url}/api/migrations/${id}`)).json() as { migration: { outcome: string; report: MigrationReport } };
    assert.equal(api.migration.outcome, 'migrated');
    const rep = api.migration.report;
    // the downtime chart: its segments are the report's phases, and add up to its downtime
    const segs = await p.$$eval(`${byId('chart-downtime')} rect[data-seg]`, (rs) => rs.map((r) => ({ seg: r.getAttribute('data-seg'), ms: Number(r.getAttribute('data-ms')) })));
    assert.ok(segs.length >= 1, 'no segment in the downtime chart');
    const segSum = segs.reduce((s, x) => s + x.ms, 0);
    assert.ok(Math.abs(segSum - rep.downtime!.totalMs) <= 1, `segments add up to ${segSum} ms, the downtime is ${rep.downtime!.totalMs} ms`);
    assert.match((await p.textContent(byId('chart-downtime'))) ?? '', /\d ms/);
    // the iterations chart: one group per link, pre-1 … final, a bar of pages and one of wire bytes
    const groups = await p.$$eval(`${byId('chart-iterations')} g[data-link]`, (gs) => gs.map((g) => g.getAttribute('data-link')));
    const want = [...rep.iterations.map((_, i) => `pre-${i + 1}`), ...(rep.final ? ['final'] : [])];
    assert.deepEqual(groups, want);
    const bars = await p.locator(`${byId('chart-iterations')} rect[data-bar]`).count();
    assert.equal(bars, 2 * want.length);
    assert.ok(bars >= 1);
    await p.locator(byId('report')).scrollIntoViewIfNeeded();
    await shot('report');

    // 5. what a user checks: the program is listed on b and runs there (its memory: at the end)
    await p.click(byId('host-b'));
    await p.waitForSelector(byId(`proc-${nsPid}`), { timeout: 15_000 });
    assert.match((await p.textContent(byId(`proc-${nsPid}`))) ?? '', /bigcounter/);
    await shot('processes-b');
    const onB = c.rootPid('b', nsPid);
    assert.ok(onB > 0, 'the process runs on B');

    // 6. cancel: a move back to a, limited to 16 MB/s (an option of the dialog), called off
    // during its pre-copy: it rolls back, and the process runs on where it was
    await p.click(byId(`migrate-${nsPid}`));
    await p.waitForSelector(`${byId('migrate-dialog')}[open]`);
    assert.equal(await p.inputValue(byId('dest')), 'a', 'the one other host is chosen');
    await p.click(`${byId('options')} summary`);
    await p.fill(`${byId('migrate-dialog')} input[name="bandwidth"]`, '16M');
    await p.click(byId('preflight-btn'));
    await p.waitForSelector(`${byId('preflight-result')}:is([data-state="ok"], [data-state="refused"], [data-state="error"])`, { timeout: 30_000 });
    assert.equal(await p.getAttribute(byId('preflight-result'), 'data-state'), 'ok', `preflight back: ${await p.textContent(byId('preflight-result'))}`);
    await p.click(byId('confirm-btn'));
    const second = p.locator(`[data-testid^="run-"]:not([data-testid="run-${id}"])`);
    await second.waitFor({ timeout: 10_000 });
    const id2 = (await second.getAttribute('data-id'))!;
    const run2 = byId(`run-${id2}`);
    await p.waitForSelector(`${run2}[data-phase="precopy"] ${byId('left')}[data-bytes]:not([data-bytes="0"])`, { timeout: 20_000 });
    await shot('cancel-precopy');
    await p.click(`${run2} ${byId('cancel')}`);
    await p.waitForSelector(`${run2}[data-state="done"]`, { timeout: 30_000 });
    assert.equal(await p.getAttribute(run2, 'data-outcome'), 'interrupted', `the panel says: ${await p.textContent(run2)}`);
    assert.equal(await p.getAttribute(`${run2} ${byId('phase')}`, 'data-phase'), 'rollback');
    await p.waitForSelector(`${byId(`hist-${id2}`)}[data-outcome="interrupted"]`, { timeout: 10_000 });
    await shot('cancelled');
    const rec2 = await (await fetch(`${url}/api/migrations/${id2}`)).json() as { migration: { outcome: string; options: Record<string, unknown> } };
    assert.equal(rec2.migration.outcome, 'interrupted');
    assert.equal(rec2.migration.options.bandwidth, '16M', `options sent: ${JSON.stringify(rec2.migration.options)}`);
    assert.equal(c.rootPid('b', nsPid), onB, 'after the cancel the process runs on B, as it did');
    assert.equal(c.rootPid('a', nsPid), -1, 'and A holds no copy');

    const v = await askVerdict({ ...target, pid: onB }, 60_000);
    assert.equal(notPassing(v), null);
    assert.deepEqual(problems, [], 'errors in the page');
    t.diagnostic(`migration ${id}: confirm → done in ${(migrationMs / 1000).toFixed(1)} s; downtime ${rep.downtime!.totalMs} ms ` +
      `(${segs.map((s) => `${s.seg} ${s.ms}`).join(', ')}); links ${want.join(' ')}; test ${lap()}`);
  } catch (e) {
    await p.evaluate(() => window.scrollTo(0, 0)).catch(() => undefined);
    const path = join(ARTIFACTS, '99-failure.png');
    await p.screenshot({ path, fullPage: true }).then(() => t.diagnostic(`screenshot ${path}`), () => undefined);
    t.diagnostic(`page problems: ${problems.join(' | ') || 'none'}`);
    t.diagnostic(`coordinator log:\n${logTail()}`);
    throw e;
  }
});
