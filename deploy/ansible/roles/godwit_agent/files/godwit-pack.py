#!/usr/bin/env python3
"""Pack the run-time part of a built godwit into one archive, on the Ansible controller.

    godwit-pack.py SOURCE OUT_DIR

SOURCE is the repository after `npm install`. The archive holds bin/, dist/src/, native/build/,
package.json, package-lock.json, README.md and the packages of node_modules/ that the lock file
does not mark as development ones (no TypeScript, no @types). It is the same bytes for the same
files (sorted, owned by root, fixed times and modes), and its name carries the SHA-256 of its tar
stream, which the role uses as the release's identity: the host installs a release only when
that differs.

Prints one JSON object: {"archive", "release", "version", "arch", "files", "bytes"}.
"""
import gzip
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

MTIME = 946684800  # 2000-01-01: any fixed time, so that the same files make the same archive
TREES = ['bin', 'dist/src', 'native/build']
FILES = ['package.json', 'package-lock.json']
OPTIONAL = ['README.md', 'LICENSE']
NEEDED = ['bin/godwit.js', 'dist/src/cli/main.js', 'native/build/godwit-seed', 'package.json',
          'package-lock.json', 'node_modules']


def fail(msg):
    print(f'godwit-pack: {msg}', file=sys.stderr)
    sys.exit(1)


def walk(root, rel, skip_node_modules=False):
    """Relative paths of everything under root/rel (directories too), not following links."""
    out = [rel]
    base = os.path.join(root, rel)
    for dirpath, dirnames, filenames in os.walk(base):
        if skip_node_modules and 'node_modules' in dirnames:
            dirnames.remove('node_modules')  # nested packages are lock entries of their own
        r = os.path.relpath(dirpath, root)
        for d in dirnames:
            out.append(os.path.join(r, d))
        for f in filenames:
            out.append(os.path.join(r, f))
    return out


def production_packages(source):
    with open(os.path.join(source, 'package-lock.json'), encoding='utf-8') as f:
        lock = json.load(f)
    packages = lock.get('packages')
    if not isinstance(packages, dict):
        fail('package-lock.json has no "packages" map (lockfileVersion 2 or 3 is needed: npm 7 or later)')
    keep = []
    for key, meta in packages.items():
        if not key.startswith('node_modules/') or meta.get('dev') or meta.get('link'):
            continue
        if os.path.isdir(os.path.join(source, key)):  # optional ones for other platforms are absent
            keep.append(key)
    return keep


def main():
    if len(sys.argv) != 3:
        fail('usage: godwit-pack.py SOURCE OUT_DIR')
    source = os.path.realpath(sys.argv[1])
    out_dir = sys.argv[2]
    missing = [p for p in NEEDED if not os.path.exists(os.path.join(source, p))]
    if missing:
        fail(f'godwit_source {source} is not a built godwit: {", ".join(missing)} missing '
             '(run `npm install` there: it builds dist/ and native/build/)')
    with open(os.path.join(source, 'package.json'), encoding='utf-8') as f:
        version = json.load(f).get('version', '0')

    paths = set()
    for t in TREES:
        paths.update(walk(source, t))
    paths.update(FILES)
    paths.update(f for f in OPTIONAL if os.path.isfile(os.path.join(source, f)))
    for pkg in production_packages(source):
        paths.update(walk(source, pkg, skip_node_modules=True))
    # every directory on the way, so that the archive makes them with known modes
    for p in list(paths):
        d = os.path.dirname(p)
        while d:
            paths.add(d)
            d = os.path.dirname(d)
    ordered = sorted(paths)

    raw = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for rel in ordered:
            full = os.path.join(source, rel)
            info = tar.gettarinfo(full, arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = 'root'
            info.mtime = MTIME
            info.pax_headers = {}
            if info.isdir():
                info.mode = 0o755
                tar.addfile(info)
            elif info.issym():
                info.mode = 0o777
                tar.addfile(info)
            elif info.isfile():
                info.mode = 0o755 if os.stat(full).st_mode & 0o111 else 0o644
                with open(full, 'rb') as f:
                    tar.addfile(info, f)
                count += 1
            # sockets, fifos, devices: nothing of a release
    data = raw.getvalue()
    release = hashlib.sha256(data).hexdigest()

    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    archive = os.path.join(out_dir, f'godwit-{version}-{release[:16]}.tar.gz')
    if not os.path.exists(archive):
        tmp = f'{archive}.{os.getpid()}.tmp'
        with open(tmp, 'wb') as f, gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0, compresslevel=6) as gz:
            gz.write(data)
        os.rename(tmp, archive)
    print(json.dumps({'archive': archive, 'release': release, 'version': version, 'arch': platform.machine(),
                      'files': count, 'bytes': len(data)}))


if __name__ == '__main__':
    main()
