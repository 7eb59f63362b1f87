// deploy/ansible: the godwit_agent role, run for real on this machine (connection local) into a
// temporary prefix, then again (idempotent: nothing changes) and in check mode; and migrate.yml
// with the godwit_migrate module, between simulated hosts: a process moves, a check run only
// asks the preflight, and a migration that is refused fails the play with the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, tempDir, cleanup, buildProgram, waitForLog, askVerdict, notPassing, alive } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile } from '../lib/migrate.js';

const ANSIBLE = join(ROOT, 'deploy', 'ansible');
const GODWIT = join(ROOT, 'bin', 'godwit.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// looked up, not run: running it would make ~/.ansible
const haveAnsible = (): boolean => spawnSync('sh', ['-c', 'command -v ansible-playbook'], { stdio: 'ignore' }).status === 0;

/** Ansible's settings for a stable, plain output, with its files kept inside `dir`. */
function ansibleEnv(dir: string): NodeJS.ProcessEnv {
  const cfg = join(dir, 'ansible.cfg');
  if (!existsSync(cfg)) writeFileSync(cfg, '');
  return {
    ...process.env,
    ANSIBLE_CONFIG: cfg,
    ANSIBLE_HOME: join(dir, 'ansible-home'),
    ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-local'),
    ANSIBLE_REMOTE_TEMP: join(dir, 'ansible-remote'),
    ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_STDOUT_CALLBACK: 'default',
    ANSIBLE_RETRY_FILES_ENABLED: 'false',
    ANSIBLE_DEPRECATION_WARNINGS: 'false',
    ANSIBLE_LOCALHOST_WARNING: 'false',
    ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false',
    ANSIBLE_SYSTEM_WARNINGS: 'false',
  };
}

interface Play { code: number | null; out: string; ms: number; recap: { ok: number; changed: number; failed: number } | null }

/** ansible-playbook ARGS, from the repository, stdout and stderr together. */
function playbook(dir: string, args: string[], timeoutMs = 120_000): Promise<Play> {
  const t0 = Date.now();
  const p = spawn('ansible-playbook', args, { cwd: ROOT, env: ansibleEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    p.on('close', (code) => {
      clearTimeout(timer);
      const m = /^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/m.exec(out);
      resolve({ code, out, ms: Date.now() - t0, recap: m ? { ok: Number(m[1]), changed: Number(m[2]), failed: Number(m[3]) } : null });
    });
  });
}

const tail = (p: Play): string => `exit ${p.code}\n${p.out.slice(-6000)}`;
const mode = (f: string): number => statSync(f).mode & 0o777;

/** The run-time part of the repository, copied: builds going on meanwhile cannot change the release under the test. */
function snapshotSource(dest: string): void {
  for (const p of ['bin', 'dist/src', 'native/build', 'node_modules', 'package.json', 'package-lock.json', 'README.md']) {
    if (existsSync(join(ROOT, p))) cpSync(join(ROOT, p), join(dest, p), { recursive: true, verbatimSymlinks: true });
  }
}

test('the godwit_agent role installs the agent into a prefix; a second run and a check run change nothing', async (t) => {
  if (!haveAnsible()) { t.skip('ansible-playbook is not installed'); return; }
  const dir = tempDir('ansible-role');
  t.after(() => cleanup(dir));
  const src = join(dir, 'source');
  snapshotSource(src);
  const d = {
    install: join(dir, 'opt', 'godwit'), config: join(dir, 'etc', 'godwit'), state: join(dir, 'var', 'lib', 'godwit'),
    units: join(dir, 'etc', 'systemd', 'system'), pack: join(dir, 'pack'),
  };
  // TLS material: a self-signed certificate serves as its own CA (the agent only loads it here)
  const pem = join(dir, 'tls');
  mkdirSync(pem);
  const ssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=godwit ansible test', '-keyout', join(pem, 'key'), '-out', join(pem, 'cert')], { encoding: 'utf8' });
  assert.equal(ssl.status, 0, ssl.stderr);
  const cert = readFileSync(join(pem, 'cert'), 'utf8'), key = readFileSync(join(pem, 'key'), 'utf8');
  const token = randomBytes(24).toString('base64');
  const port = 20000 + (randomBytes(2).readUInt16BE() % 30000);
  const systemd = existsSync('/run/systemd/system');
  const vars = {
    godwit_source: src, godwit_install_dir: d.install, godwit_config_dir: d.config, godwit_state_dir: d.state,
    godwit_unit_dir: d.units, godwit_pack_dir: d.pack, godwit_node: process.execPath,
    godwit_token: token, godwit_listen: `127.0.0.1:${port}`,
    godwit_tls_cert: cert, godwit_tls_key: key, godwit_tls_ca: cert,
    godwit_hosts: [{ name: 'hostA', url: 'wss://10.0.0.1:7749' }, { name: 'hostB', url: 'wss://10.0.0.2:7749', token_file: '/etc/other/token' }],
    // where systemd does run, the unit in a temporary directory is not one it could start
    godwit_manage_service: !systemd,
  };
  writeFileSync(join(dir, 'vars.json'), JSON.stringify(vars));
  writeFileSync(join(dir, 'inventory.ini'), '[godwit_agents]\nlocalhost ansible_connection=local ansible_become=false\n');
  const site = (...extra: string[]) => playbook(dir, ['-i', join(dir, 'inventory.ini'), join(ANSIBLE, 'site.yml'), '-e', `@${join(dir, 'vars.json')}`, ...extra]);
  const times: string[] = [];

  // check mode on a fresh host: says what it would do, makes nothing
  const dry = await site('--check');
  times.push(`check (fresh) ${dry.ms} ms`);
  assert.equal(dry.code, 0, tail(dry));
  assert.ok(dry.recap && dry.recap.changed > 0, `check mode on a fresh host reports changes\n${tail(dry)}`);
  assert.match(dry.out, /would install godwit /);
  for (const p of [d.install, d.config, d.state, d.units]) assert.ok(!existsSync(p), `check mode made ${p}`);

  // the real run
  const first = await site();
  times.push(`first run ${first.ms} ms`);
  assert.equal(first.code, 0, tail(first));
  assert.ok(first.recap && first.recap.changed > 0 && first.recap.failed === 0, tail(first));
  assert.match(first.out, systemd ? /godwit_manage_service is off/ : /systemd is not running on this host/);

  assert.equal(readFileSync(join(d.config, 'token'), 'utf8'), `${token}\n`);
  assert.equal(mode(join(d.config, 'token')), 0o600);
  assert.equal(readFileSync(join(d.config, 'agent.key'), 'utf8'), `${key.trim()}\n`);
  assert.equal(mode(join(d.config, 'agent.key')), 0o600);
  assert.equal(readFileSync(join(d.config, 'agent.pem'), 'utf8'), `${cert.trim()}\n`);
  assert.equal(readFileSync(join(d.config, 'ca.pem'), 'utf8'), `${cert.trim()}\n`);
  assert.equal(mode(d.state), 0o700);
  const hostLines = readFileSync(join(d.config, 'hosts'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  const tlsCreds = `tls-cert=${d.config}/agent.pem tls-key=${d.config}/agent.key tls-ca=${d.config}/ca.pem`;
  assert.deepEqual(hostLines, [
    `hostA wss://10.0.0.1:7749 token-file=${d.config}/token ${tlsCreds}`,
    `hostB wss://10.0.0.2:7749 token-file=/etc/other/token ${tlsCreds}`,
  ]);

  const unit = readFileSync(join(d.units, 'godwit-agent.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.equal(execStart, [process.execPath, `${d.install}/bin/godwit.js`, 'agent', '--listen', `127.0.0.1:${port}`,
    '--token-file', `${d.config}/token`, '--state-dir', d.state,
    '--tls-cert', `${d.config}/agent.pem`, '--tls-key', `${d.config}/agent.key`, '--tls-ca', `${d.config}/ca.pem`].join(' '));
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^After=network-online\.target$/m);
  assert.match(unit, /^User=root$/m);

  // the installed copy runs on its own: production packages only, no TypeScript
  assert.ok(existsSync(join(d.install, 'node_modules', 'koffi')) && !existsSync(join(d.install, 'node_modules', 'typescript')));
  const v = spawnSync(process.execPath, [join(d.install, 'bin', 'godwit.js'), '--version'], { encoding: 'utf8', cwd: '/' });
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), VERSION);
  // and the agent starts as the unit would start it, with the token and TLS files written
  const argv = execStart!.split(' ');
  const agent = spawn(argv[0]!, argv.slice(1), { cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
  let agentLog = '';
  agent.stderr.on('data', (b: Buffer) => { agentLog += b.toString(); });
  try {
    for (let i = 0; !agentLog.includes('agent listening'); i++) {
      assert.ok(agent.exitCode === null && i < 400, `the installed agent did not start (exit ${agent.exitCode}):\n${agentLog}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    agent.kill('SIGTERM');
  }
  const [code] = await new Promise<[number | null]>((r) => { if (agent.exitCode !== null) r([agent.exitCode]); else agent.on('exit', (c) => r([c])); });
  assert.equal(code, 0, `the agent's exit on SIGTERM\n${agentLog}`);

  // idempotent: nothing changes the second time, nor in check mode
  const second = await site();
  times.push(`second run ${second.ms} ms`);
  assert.equal(second.code, 0, tail(second));
  assert.deepEqual(second.recap && [second.recap.changed, second.recap.failed], [0, 0], `the second run changed something\n${tail(second)}`);
  const check = await site('--check');
  times.push(`check ${check.ms} ms`);
  assert.equal(check.code, 0, tail(check));
  assert.deepEqual(check.recap && [check.recap.changed, check.recap.failed], [0, 0], `the check run reports changes\n${tail(check)}`);

  // a new release replaces the old one as a whole: what it no longer has goes
  const stamp = readFileSync(join(d.install, '.godwit-release'), 'utf8');
  const dropped = join('native', 'build', 'godwit-hostinit');
  rmSync(join(src, dropped));
  const upgrade = await site();
  times.push(`upgrade ${upgrade.ms} ms`);
  assert.equal(upgrade.code, 0, tail(upgrade));
  assert.notEqual(readFileSync(join(d.install, '.godwit-release'), 'utf8'), stamp);
  assert.ok(!existsSync(join(d.install, dropped)), 'a file the release no longer has is gone');
  assert.ok(existsSync(join(d.install, 'native', 'build', 'godwit-seed')));
  assert.ok(!existsSync(`${d.install}.new`) && !existsSync(`${d.install}.old`));
  t.diagnostic(times.join('; '));
});

test('migrate.yml moves a process between simulated hosts; --check only asks; a refused migration fails the play with the report', async (t) => {
  if (!haveAnsible()) { t.skip('ansible-playbook is not installed'); return; }
  const dir = tempDir('ansible-migrate');
  t.after(() => cleanup(dir));
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'ansible', [buildProgram('bigcounter'), '64', '10']);
  await waitForLog(target.log, /^TICK \d+$/m);
  const nsPid = target.nsPid!;
  // this process's main thread is in the hosts' wire namespace: ansible, its module and godwit inherit it
  const migrate = (vars: Record<string, unknown>, ...extra: string[]) => playbook(dir, [join(ANSIBLE, 'migrate.yml'),
    '-e', JSON.stringify({ godwit_pid: nsPid, godwit_from: 'a', godwit_to: 'b', godwit_hosts_file: hosts, godwit_cli: `${process.execPath} ${GODWIT}`, ...vars }), ...extra]);
  const times: string[] = [];

  const check = await migrate({}, '--check');
  times.push(`check ${check.ms} ms`);
  assert.equal(check.code, 0, tail(check));
  assert.equal(check.recap?.changed, 1, `check mode reports the migration that would happen\n${tail(check)}`);
  assert.match(check.out, /"msg": "dry-run: check mode: the preflight of PID \d+ from a to b passed; the migration would go ahead"/);
  assert.ok(alive(target.pid) && c.rootPid('b', nsPid) === -1, 'a check run moved nothing');

  const dry = await migrate({ godwit_dry_run: true });
  times.push(`dry run ${dry.ms} ms`);
  assert.equal(dry.code, 0, tail(dry));
  assert.equal(dry.recap?.changed, 0, tail(dry));
  assert.match(dry.out, /"msg": "dry-run: dry run: the preflight of PID \d+ from a to b passed; nothing was moved"/);
  assert.ok(alive(target.pid) && c.rootPid('b', nsPid) === -1, 'a dry run moved nothing');

  const real = await migrate({});
  times.push(`migration ${real.ms} ms`);
  assert.equal(real.code, 0, tail(real));
  assert.equal(real.recap?.changed, 1, tail(real));
  assert.match(real.out, /"msg": "migrated: migrated PID \d+ from a to b: PID \d+ there; downtime \d+(\.\d+)? ms/);
  const onB = c.rootPid('b', nsPid);
  assert.ok(onB > 0, 'the process runs on B');
  assert.ok(!alive(target.pid), 'the source copy is gone');

  // the same again: the PID is not on A any more, so preflight refuses and the play fails
  const refused = await migrate({});
  times.push(`refused ${refused.ms} ms`);
  assert.notEqual(refused.code, 0, tail(refused));
  assert.equal(refused.recap?.failed, 1, tail(refused));
  assert.match(refused.out, /FAILED! => .*"msg": "godwit migrate PID \d+ from a to b failed \(outcome refused, exit code 3\): /);
  assert.match(refused.out, /"outcome": "refused"/);
  assert.match(refused.out, /"report": \{/);
  assert.ok(c.rootPid('b', nsPid) === onB, 'the process still runs on B');
  t.diagnostic(/"msg": "(godwit migrate [^"]*)"/.exec(refused.out)![1]!.slice(0, 300));

  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
  t.diagnostic(times.join('; '));
});
