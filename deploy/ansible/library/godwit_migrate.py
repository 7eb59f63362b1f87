#!/usr/bin/python3
# -*- coding: utf-8 -*-
# godwit_migrate: an Ansible module that moves a running process with `godwit migrate --json`
# and fails the task, with godwit's report, when it does not move.
# Apache-2.0, as godwit.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: godwit_migrate
short_description: Live-migrate a running process tree to another host with godwit
description:
  - Runs C(godwit migrate --json) on the target host, the coordinator (which must reach both
    agents and read the hosts file and the token), follows its progress lines and returns its report.
  - The task changes something when the report's outcome is C(migrated), and fails with the
    report (its C(error), or the last lines godwit wrote on stderr) for any other outcome
    (C(refused), C(rolled-back), C(unknown)) or when godwit cannot run.
  - C(dry_run=true) runs the preflight only (outcome C(dry-run), no change). In check mode the
    module runs the preflight too, and reports a change when the migration would go ahead.
version_added: "0.1.0"
options:
  pid:
    description: The tree's root, as the source host sees it.
    type: int
    required: true
  to:
    description: The destination, a name in the hosts file or an agent URL (C(ws://ADDRESS:PORT), C(wss://...)).
    type: str
    required: true
    aliases: [destination]
  from:
    description: The source, a name or URL. Default, as godwit's own, this host's agent.
    type: str
    aliases: [source]
  hosts:
    description: The hosts file. Default C($GODWIT_HOSTS), else C(/etc/godwit/hosts).
    type: path
    aliases: [hosts_file]
  token_file:
    description: The cluster token for hosts given by URL. Default C(/etc/godwit/token).
    type: path
  tls_cert:
    description: Client certificate for hosts given by URL (with tls_key and tls_ca).
    type: path
  tls_key:
    description: Its key.
    type: path
  tls_ca:
    description: The CA of the agents' certificates.
    type: path
  max_downtime:
    description: Freeze once the rest can move in this many milliseconds (godwit's default is 300).
    type: int
  max_iterations:
    description: Pre-copy links at most.
    type: int
  max_precopy:
    description: Seconds of pre-copy at most.
    type: int
  bandwidth:
    description: Limit on the wire, bytes per second (C(200M), C(1G)).
    type: str
  compress:
    description: Compression of the pages.
    type: str
    choices: [auto, lz4, none]
  move_ip:
    description: Addresses (C(ADDR/PREFIX)) moved from the source's interface to the destination's while the tree is frozen.
    type: list
    elements: str
    default: []
  new_pidns:
    description: Restore into a fresh PID namespace on the destination.
    type: bool
    default: false
  hook_pre_restore:
    description: Executable run while the tree is frozen and built on the destination (failing rolls back).
    type: path
  hook_post_resume:
    description: Executable run once the tree runs on the destination (failing only warns).
    type: path
  dry_run:
    description: Preflight only; the report says whether the migration would go ahead.
    type: bool
    default: false
  godwit:
    description:
      - The godwit command line, as a string (split like a shell) or a list, e.g. C(node /opt/godwit/bin/godwit.js).
      - Default C(godwit) when it is on the PATH, else C(node /opt/godwit/bin/godwit.js) (with C(/usr/bin/node)).
    type: raw
  extra_args:
    description: More arguments for C(godwit migrate).
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds after which godwit is interrupted with SIGINT (it rolls back, the process stays on
        the source) and the task fails. 0, the default, sets no limit (godwit bounds pre-copy itself).
    type: int
    default: 0
author: godwit
notes:
  - Supports check mode, as a preflight (C(--dry-run)).
'''

EXAMPLES = r'''
- name: Move PID 4242 from hostA to hostB, with its service address
  godwit_migrate:
    pid: 4242
    from: hostA
    to: hostB
    move_ip: [10.0.0.100/24]
  register: moved

- name: Only ask whether it would work
  godwit_migrate:
    pid: 4242
    to: hostB
    dry_run: true
'''

RETURN = r'''
outcome:
  description: The report's outcome (migrated, dry-run, refused, rolled-back, unknown), or none when godwit gave no report.
  type: str
  returned: always
report:
  description: godwit's report (the last JSON line of C(godwit migrate --json)).
  type: dict
  returned: when godwit gave one
destination_pid:
  description: The tree's root PID on the destination.
  type: int
  returned: when migrated
phases:
  description: The phases the migration went through, in order, each with the iteration it was at.
  type: list
  returned: always
rc:
  description: godwit's exit code (0 migrated or dry run, 2 bad input, 3 refused, 4 rolled back, 5 unknown, 130 interrupted).
  type: int
  returned: always
cmd:
  description: The command that ran.
  type: list
  returned: always
stderr_lines:
  description: The last lines godwit wrote on stderr (warnings, errors).
  type: list
  returned: always
'''

import json
import os
import shlex
import signal
import subprocess
import threading
import time

from ansible.module_utils.basic import AnsibleModule

DEFAULT_INSTALL = '/opt/godwit/bin/godwit.js'
STDERR_KEEP = 40


def godwit_command(module, spec):
    if spec is None or spec == '' or spec == []:
        found = module.get_bin_path('godwit')
        if found:
            return [found]
        if not os.path.exists(DEFAULT_INSTALL):
            module.fail_json(msg='godwit is not on the PATH and %s does not exist: install godwit (the godwit_agent role '
                             'puts it in /opt/godwit) or set the module\'s godwit option (e.g. "node /srv/godwit/bin/godwit.js")'
                             % DEFAULT_INSTALL, changed=False, outcome=None)
        node = module.get_bin_path('node', opt_dirs=['/usr/bin', '/usr/local/bin']) or '/usr/bin/node'
        return [node, DEFAULT_INSTALL]
    if isinstance(spec, list):
        return [str(x) for x in spec]
    return shlex.split(str(spec))


def build_args(p, dry_run):
    args = ['migrate', '--pid', str(p['pid']), '--to', p['to'], '--json']
    for opt, flag in (('from', '--from'), ('hosts', '--hosts'), ('token_file', '--token-file'),
                      ('tls_cert', '--tls-cert'), ('tls_key', '--tls-key'), ('tls_ca', '--tls-ca'),
                      ('max_downtime', '--max-downtime'), ('max_iterations', '--max-iterations'),
                      ('max_precopy', '--max-precopy'), ('bandwidth', '--bandwidth'), ('compress', '--compress'),
                      ('hook_pre_restore', '--hook-pre-restore'), ('hook_post_resume', '--hook-post-resume')):
        if p[opt] is not None and p[opt] != '':
            args += [flag, str(p[opt])]
    for ip in p['move_ip'] or []:
        args += ['--move-ip', ip]
    if p['new_pidns']:
        args.append('--new-pidns')
    if dry_run:
        args.append('--dry-run')
    args += [str(a) for a in p['extra_args'] or []]
    return args


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pid=dict(type='int', required=True),
            to=dict(type='str', required=True, aliases=['destination']),
            **{'from': dict(type='str', aliases=['source'])},
            hosts=dict(type='path', aliases=['hosts_file']),
            token_file=dict(type='path', no_log=False),
            tls_cert=dict(type='path'),
            tls_key=dict(type='path', no_log=False),
            tls_ca=dict(type='path'),
            max_downtime=dict(type='int'),
            max_iterations=dict(type='int'),
            max_precopy=dict(type='int'),
            bandwidth=dict(type='str'),
            compress=dict(type='str', choices=['auto', 'lz4', 'none']),
            move_ip=dict(type='list', elements='str', default=[]),
            new_pidns=dict(type='bool', default=False),
            hook_pre_restore=dict(type='path'),
            hook_post_resume=dict(type='path'),
            dry_run=dict(type='bool', default=False),
            godwit=dict(type='raw'),
            extra_args=dict(type='list', elements='str', default=[]),
            timeout=dict(type='int', default=0),
        ),
        required_together=[['tls_cert', 'tls_key', 'tls_ca']],
        supports_check_mode=True,
    )
    p = module.params
    dry_run = p['dry_run'] or module.check_mode
    base = godwit_command(module, p['godwit'])
    cmd = base + build_args(p, dry_run)
    result = dict(changed=False, cmd=cmd, outcome=None, rc=None, phases=[], stderr_lines=[])

    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, start_new_session=True)
    except OSError as e:
        module.fail_json(msg='cannot run godwit (%s): %s; set the module\'s godwit option (e.g. "node /opt/godwit/bin/godwit.js")'
                         % (' '.join(base), e), **result)

    stderr_tail = []

    def read_stderr():
        for raw in proc.stderr:
            stderr_tail.append(raw.decode('utf-8', 'replace').rstrip('\n'))
            if len(stderr_tail) > 4 * STDERR_KEEP:
                del stderr_tail[:-STDERR_KEEP]
    err_thread = threading.Thread(target=read_stderr, daemon=True)
    err_thread.start()

    timed_out = False
    if p['timeout'] > 0:
        def on_timeout():
            nonlocal timed_out
            if proc.poll() is None:
                timed_out = True
                # to the whole group (it runs in a session of its own): a wrapper script's node
                # gets it too. godwit rolls back: the process stays on the source
                os.killpg(proc.pid, signal.SIGINT)
                deadline = time.time() + 60
                while proc.poll() is None and time.time() < deadline:
                    time.sleep(0.2)
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
        timer = threading.Timer(p['timeout'], on_timeout)
        timer.daemon = True
        timer.start()

    report = None
    phases = []
    other = []
    for raw in proc.stdout:
        line = raw.decode('utf-8', 'replace').strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            other.append(line)
            continue
        if not isinstance(msg, dict):
            continue
        if msg.get('type') == 'progress':
            step = {'phase': msg.get('phase'), 'iteration': msg.get('iteration')}
            if not phases or phases[-1] != step:
                phases.append(step)
        elif msg.get('type') == 'report':
            msg.pop('type', None)
            report = msg
    rc = proc.wait()
    err_thread.join(5)
    if p['timeout'] > 0:
        timer.cancel()

    result.update(rc=rc, phases=phases, stderr_lines=stderr_tail[-STDERR_KEEP:])
    if other:
        result['stdout_lines'] = other[-STDERR_KEEP:]
    if report is not None:
        result['report'] = report
        result['outcome'] = report.get('outcome')
        for w in report.get('warnings') or []:
            module.warn('godwit: %s' % w)
    outcome = result['outcome']
    where = 'PID %s %sto %s' % (p['pid'], ('from %s ' % p['from']) if p['from'] else '', p['to'])

    if outcome == 'migrated' and rc == 0:
        dest = report.get('destinationPid', report.get('pid'))
        downtime = (report.get('downtime') or {}).get('totalMs')
        result.update(changed=True, destination_pid=dest,
                      msg='migrated %s: PID %s there; downtime %s ms, total %s ms, %d pre-copy link(s)'
                      % (where, dest, downtime, report.get('totalMs'), len(report.get('iterations') or [])))
        module.exit_json(**result)
    if outcome == 'dry-run' and rc == 0:
        if module.check_mode:
            result.update(changed=True, msg='check mode: the preflight of %s passed; the migration would go ahead' % where)
        else:
            result.update(changed=False, msg='dry run: the preflight of %s passed; nothing was moved' % where)
        module.exit_json(**result)

    # anything else: the process did not move (or nobody knows: outcome unknown)
    stderr_text = '\n'.join(l for l in stderr_tail[-10:] if l.strip())
    godwit_said = [l for l in stderr_tail if l.startswith('godwit: ')]
    detail = (report or {}).get('error') or (godwit_said[-1][len('godwit: '):] if godwit_said else '') \
        or stderr_text or 'godwit gave no report'
    if timed_out:
        detail = 'interrupted after %ss (timeout): %s' % (p['timeout'], detail)
    module.fail_json(msg='godwit migrate %s failed (outcome %s, exit code %s): %s'
                     % (where, outcome or 'none', rc, detail), **result)


if __name__ == '__main__':
    main()
