// Files that hold secrets (proxy bootstrap tokens, `outrigger token -o`, state.json) are written under a
// random temporary name created afresh (O_EXCL|O_NOFOLLOW), 0600, then renamed into place: never through
// a symlink someone planted, nor into a file already there whose mode it would keep. The private
// directories they live in (the state directory, its tokens and logs) are made 0700, and one already
// there that is a symlink, another user's, or writable by group or others is refused with what to do
// (`up` may run as root in netns mode, writing into them).
import assert from 'node:assert/strict';
import fs, { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, type MakeDirectoryOptions, type PathLike } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { define } from '../../src/cli/token.ts';
import type { MeshState } from '../../src/runtime/state.ts';
import { makeStateDirs, writeState } from '../../src/runtime/state.ts';
import { proxyFiles } from '../../src/runtime/proxy-process.ts';
import { claimMeshDir, releaseMeshDir } from '../../src/runtime/up-lock.ts';
import { writeCaMaterial } from '../../src/ca/ca-store.ts';
import { loadTokenKey } from '../../src/controlplane/token-key.ts';
import { groupWriteRefusal, makePrivateDir, useAccountFiles, writeFileAtomic, writeNewFile } from '../../src/runtime/write-atomic.ts';

const root = mkdtempSync(path.join(tmpdir(), 'or-state-files-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => path.join(root, `${name}-${n++}`);
const modeOf = (p: string) => statSync(p).mode & 0o777;
/** A group other than this process's primary one that a directory of ours can be given (root: any), if there is one. */
const foreignGroup = (): number | undefined => (process.getuid?.() === 0 ? 65534 : process.getgroups?.().find((g) => g !== process.getgid?.()));

/**
 * Local account files of the test's own, read in place of /etc's while `fn` runs: `passwd` lines
 * (name:x:uid:gid:...) and `group` lines (name:x:gid:members).
 */
function withAccounts<T>(passwd: string[], group: string[], fn: (files: { passwd: string; group: string }) => T): T {
  const dir = fresh('etc');
  mkdirSync(dir);
  const files = { passwd: path.join(dir, 'passwd'), group: path.join(dir, 'group') };
  writeFileSync(files.passwd, `${passwd.join('\n')}\n`);
  writeFileSync(files.group, `${group.join('\n')}\n`);
  useAccountFiles(files);
  try {
    return fn(files);
  } finally {
    useAccountFiles(undefined);
  }
}

/** A file "another user" keeps, readable by all: where a planted symlink would send a secret. */
function loot(): string {
  const file = fresh('loot');
  writeFileSync(file, '');
  chmodSync(file, 0o644);
  return file;
}

const meta = { name: 'pay-0', namespace: 'shop', serviceAccount: 'pay', labels: {}, appPorts: {} };
const cp = { issueBootstrapToken: () => 'or1.SECRET-TOKEN.mac' };

test('writeFileAtomic replaces a symlink at the name instead of writing through it, and a file there gets the new mode', () => {
  const dir = fresh('atomic');
  mkdirSync(dir);
  const target = loot();
  symlinkSync(target, path.join(dir, 'secret'));
  writeFileAtomic(path.join(dir, 'secret'), 'S', { mode: 0o600 });
  assert.equal(readFileSync(target, 'utf8'), '');
  assert.ok(!lstatSync(path.join(dir, 'secret')).isSymbolicLink());
  assert.equal(readFileSync(path.join(dir, 'secret'), 'utf8'), 'S');
  assert.equal(modeOf(path.join(dir, 'secret')), 0o600);
  writeFileSync(path.join(dir, 'open'), 'old', { mode: 0o644 });
  chmodSync(path.join(dir, 'open'), 0o644);
  writeFileAtomic(path.join(dir, 'open'), 'new', { mode: 0o600 });
  assert.equal(modeOf(path.join(dir, 'open')), 0o600);
  assert.deepEqual(readdirSync(dir).sort(), ['open', 'secret'], 'no temporary file left');
});

test('writeNewFile never opens a name that exists, a symlink least of all', () => {
  const dir = fresh('new');
  mkdirSync(dir);
  const target = loot();
  symlinkSync(target, path.join(dir, 'tmp'));
  assert.throws(() => writeNewFile(path.join(dir, 'tmp'), 'S', { mode: 0o600 }), { code: 'EEXIST' });
  assert.equal(readFileSync(target, 'utf8'), '');
  assert.ok(lstatSync(path.join(dir, 'tmp')).isSymbolicLink(), 'what was there is left alone');
});

test('proxyFiles: a symlink planted at a token file is replaced by a 0600 file, its target untouched; an old 0644 token file becomes 0600', () => {
  const stateDir = fresh('state');
  makeStateDirs(stateDir);
  const target = loot();
  symlinkSync(target, path.join(stateDir, 'tokens', 'shop.pay-0.token'));
  const { tokenFile } = proxyFiles(cp, stateDir, meta as never);
  assert.equal(readFileSync(target, 'utf8'), '', 'nothing written through the symlink');
  assert.ok(!lstatSync(tokenFile).isSymbolicLink());
  assert.equal(readFileSync(tokenFile, 'utf8'), 'or1.SECRET-TOKEN.mac');
  assert.equal(modeOf(tokenFile), 0o600);
  chmodSync(tokenFile, 0o644);
  proxyFiles(cp, stateDir, meta as never);
  assert.equal(modeOf(tokenFile), 0o600);
});

test('makeStateDirs refuses a tokens or logs directory writable by others, or a symlink, naming it; one of ours that is only readable is made 0700', () => {
  const open = fresh('state');
  mkdirSync(path.join(open, 'tokens'), { recursive: true });
  chmodSync(path.join(open, 'tokens'), 0o777);
  assert.throws(() => makeStateDirs(open), { code: 'PRIVATE_DIR', message: new RegExp(`^${path.join(open, 'tokens')} is writable by its group and others \\(mode 0777\\): .*remove it so it is made afresh, mode 0700`) });

  // Writable by a group that is not this user's own (another group's members could swap its entries).
  const foreign = foreignGroup();
  if (foreign !== undefined) {
    const groupWritable = fresh('state');
    mkdirSync(path.join(groupWritable, 'logs'), { recursive: true });
    chownSync(path.join(groupWritable, 'logs'), process.getuid!(), foreign);
    chmodSync(path.join(groupWritable, 'logs'), 0o770);
    assert.throws(() => makeStateDirs(groupWritable), { code: 'PRIVATE_DIR', message: new RegExp(`logs is writable by its group \\(mode 0770\\), and gid ${foreign} is not this user's own group`) });
  }

  const linked = fresh('state');
  const elsewhere = fresh('elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  mkdirSync(linked);
  symlinkSync(elsewhere, path.join(linked, 'tokens'));
  assert.throws(() => makeStateDirs(linked), { code: 'PRIVATE_DIR', message: /tokens is a symlink; it must be a directory of its own/ });
  const dangling = fresh('state');
  mkdirSync(dangling);
  symlinkSync(fresh('nowhere'), path.join(dangling, 'tokens'));
  assert.throws(() => makeStateDirs(dangling), { code: 'PRIVATE_DIR', message: /tokens is a symlink/ });

  const older = fresh('state');
  mkdirSync(path.join(older, 'tokens'), { recursive: true });
  chmodSync(older, 0o755);
  chmodSync(path.join(older, 'tokens'), 0o755);
  makeStateDirs(older);
  assert.equal(modeOf(older), 0o700);
  assert.equal(modeOf(path.join(older, 'tokens')), 0o700);
  assert.equal(modeOf(path.join(older, 'logs')), 0o700);
});

test("a state directory of another user's is refused", { skip: process.getuid?.() !== 0 ? 'needs root to give a directory to another user' : false }, () => {
  const theirs = fresh('state');
  mkdirSync(theirs, { mode: 0o700 });
  chownSync(theirs, 65534, 65534);
  assert.throws(() => makePrivateDir(theirs), { code: 'PRIVATE_DIR', message: /belongs to uid 65534, not to this user \(uid 0\): .*remove it, or `chown -R 0 / });
  assert.throws(() => claimMeshDir(theirs), { code: 'PRIVATE_DIR' });
});

test('a state directory under a parent others may write (not sticky) is refused, naming the parent; a sticky one, as /tmp, is fine', () => {
  // The parent's other users could rename the checked directory away and put a symlink in its place.
  const shared = fresh('shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const dir = path.join(shared, 'mesh');
  assert.throws(() => makeStateDirs(dir), { code: 'PRIVATE_DIR', message: new RegExp(`^${dir} cannot be kept private: ${shared} is writable by its group and others \\(mode 0777\\) and not sticky`) });
  assert.throws(() => claimMeshDir(path.join(shared, 'a', 'b')), { code: 'PRIVATE_DIR', message: new RegExp(`${shared} is writable`) });
  const foreign = foreignGroup();
  if (foreign !== undefined) {
    chmodSync(shared, 0o775);
    chownSync(shared, process.getuid!(), foreign);
    assert.throws(() => makePrivateDir(dir), { code: 'PRIVATE_DIR', message: new RegExp(`${shared} is writable by its group \\(mode 0775\\) and not sticky, and gid ${foreign} is not this user's own group`) });
    chownSync(shared, process.getuid!(), process.getgid!());
  }
  // Sticky (1777, as /tmp): others may add entries but not rename or remove ours.
  chmodSync(shared, 0o1777);
  makeStateDirs(dir);
  assert.equal(modeOf(path.join(dir, 'tokens')), 0o700);
  // A directory under the system temporary directory (as the suites' mkdtemp ones) passes.
  makePrivateDir(fresh('tmp'));
});

test("an ancestor of another user's, or a symlink of theirs on the way, is refused, naming it", { skip: process.getuid?.() !== 0 ? 'needs root to give a directory to another user' : false }, () => {
  const theirs = fresh('theirs');
  mkdirSync(theirs, { mode: 0o755 });
  chownSync(theirs, 65534, 65534);
  assert.throws(() => makeStateDirs(path.join(theirs, 'mesh')), { code: 'PRIVATE_DIR', message: new RegExp(`${theirs} belongs to uid 65534, neither root nor this user`) });
  // A symlink of root's to their directory: the directory it resolves to is checked.
  const link = fresh('link');
  symlinkSync(theirs, link);
  assert.throws(() => makeStateDirs(path.join(link, 'mesh')), { code: 'PRIVATE_DIR', message: new RegExp(`${theirs} belongs to uid 65534`) });
  // Their symlink to a directory of ours: they could point it elsewhere later.
  const ours = fresh('ours');
  mkdirSync(ours, { mode: 0o700 });
  const theirLink = fresh('their-link');
  symlinkSync(ours, theirLink);
  lchownSync(theirLink, 65534, 65534);
  assert.throws(() => makeStateDirs(path.join(theirLink, 'mesh')), { code: 'PRIVATE_DIR', message: new RegExp(`${theirLink} is a symlink of uid 65534`) });
  // Root run by sudo trusts the user who ran it: their project directory holds .outrigger/.
  const sudoUid = process.env['SUDO_UID'];
  process.env['SUDO_UID'] = '65534';
  try {
    makeStateDirs(path.join(theirs, 'mesh'));
  } finally {
    if (sudoUid === undefined) delete process.env['SUDO_UID'];
    else process.env['SUDO_UID'] = sudoUid;
  }
  // Our own symlink to our own directory is followed.
  const ourLink = fresh('our-link');
  symlinkSync(ours, ourLink);
  makeStateDirs(path.join(ourLink, 'mesh'));
  assert.equal(modeOf(path.join(ours, 'mesh', 'tokens')), 0o700);
});

test("umask 002 with a user private group: a project directory writable only by this user's own group (0775) passes, and a state directory so made 0700", () => {
  // Fedora/RHEL and Ubuntu (pam_umask usergroups) make a user's directories 0775, group their own, of
  // which they are the only member (Debian's secure_permissions).
  const [uid, gid] = [process.getuid!(), process.getgid!()];
  withAccounts([`me:x:${uid}:${gid}::/home/me:/bin/sh`], [`me:x:${gid}:`], () => umask002());
});

function umask002(): void {
  const code = fresh('code');
  const shop = path.join(code, 'shop');
  mkdirSync(shop, { recursive: true });
  chmodSync(code, 0o775);
  chmodSync(shop, 0o775);
  assert.equal(statSync(shop).gid, process.getgid!());
  makeStateDirs(path.join(shop, '.outrigger'));
  assert.equal(modeOf(path.join(shop, '.outrigger', 'tokens')), 0o700);
  const old = path.join(shop, 'old-state');
  mkdirSync(old);
  chmodSync(old, 0o770);
  makePrivateDir(old);
  assert.equal(modeOf(old), 0o700);
}

test('root run by sudo also trusts a directory writable by the group of the user who ran it (SUDO_GID) when they are its only member', { skip: process.getuid?.() !== 0 ? 'needs root to give a directory to another user' : false }, () => {
  // alice (uid/gid 4242) is the only member of her group; root listed in it is someone else in it.
  const alone = ['root:x:0:', 'alice:x:4242:'];
  const proj = fresh('alice-proj');
  mkdirSync(proj, { mode: 0o775 });
  chownSync(proj, 4242, 4242);
  chmodSync(proj, 0o775);
  const saved = [process.env['SUDO_UID'], process.env['SUDO_GID']] as const;
  try {
    process.env['SUDO_UID'] = '4242';
    delete process.env['SUDO_GID'];
    assert.throws(() => makePrivateDir(path.join(proj, '.outrigger')), { code: 'PRIVATE_DIR', message: /is writable by its group \(mode 0775\) and not sticky, and gid 4242 is not this user's own group/ });
    process.env['SUDO_GID'] = '4242';
    const passwd = ['root:x:0:0:root:/root:/bin/bash', 'alice:x:4242:4242::/home/alice:/bin/sh'];
    // Root, or the sudo user, listed in a group is a member like any other: acceptable only as the owner.
    withAccounts(passwd, ['root:x:0:', 'alice:x:4242:root'], () =>
      assert.throws(() => makePrivateDir(path.join(proj, '.outrigger')), { code: 'PRIVATE_DIR', message: /and its group \(gid 4242\) is not its owner's \(uid 4242\) alone: user root is in it too/ }),
    );
    // A group with no local members (a directory service's, as AD's "domain users") is refused.
    withAccounts(['root:x:0:0:root:/root:/bin/bash', 'alice:x:4242:5000::/home/alice:/bin/sh'], ['root:x:0:', 'alice:x:4242:'], () =>
      assert.throws(() => makePrivateDir(path.join(proj, '.outrigger')), { code: 'PRIVATE_DIR', message: /its group \(gid 4242\) has no members in the local account files/ }),
    );
    assert.deepEqual(readdirSync(proj), [], 'nothing made under a refused directory');
    withAccounts(passwd, alone, () => makePrivateDir(path.join(proj, '.outrigger')));
    assert.equal(statSync(path.join(proj, '.outrigger')).uid, 0);
  } finally {
    for (const [name, value] of [['SUDO_UID', saved[0]], ['SUDO_GID', saved[1]]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test('a missing parent another user makes between the check and mkdir is checked as found, and refused', { skip: process.getuid?.() !== 0 ? 'needs root to give a directory to another user' : false }, () => {
  // Parts are made one at a time, each checked as it is made or found: mkdir -p would take theirs.
  const sticky = fresh('sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777); // like /tmp: another user may make the missing part first
  const missing = path.join(sticky, 'shared');
  const original = fs.mkdirSync;
  let raced = false;
  fs.mkdirSync = ((p: PathLike, o?: MakeDirectoryOptions) => {
    if (!raced) {
      raced = true;
      original(missing);
      chownSync(missing, 65534, 65534);
      chmodSync(missing, 0o777);
    }
    return original(p, o);
  }) as typeof fs.mkdirSync;
  syncBuiltinESMExports();
  try {
    assert.throws(() => makeStateDirs(path.join(missing, 'state', '.outrigger')), { code: 'PRIVATE_DIR', message: new RegExp(`${missing} belongs to uid 65534, neither root nor this user`) });
  } finally {
    fs.mkdirSync = original;
    syncBuiltinESMExports();
  }
  assert.ok(raced);
  assert.deepEqual(readdirSync(missing), [], 'nothing made in their directory');
});

test('claimMeshDir and writeState check the state directory itself', () => {
  const open = fresh('state');
  mkdirSync(open);
  chmodSync(open, 0o757);
  assert.throws(() => claimMeshDir(open), { code: 'PRIVATE_DIR', message: /is writable by others \(mode 0757\)/ });
  assert.throws(() => writeState(open, { version: 1 } as MeshState), { code: 'PRIVATE_DIR' });
  assert.deepEqual(readdirSync(open), [], 'nothing written in it');

  const real = fresh('real');
  mkdirSync(real, { mode: 0o700 });
  const link = fresh('link');
  symlinkSync(real, link);
  assert.throws(() => claimMeshDir(link), { code: 'PRIVATE_DIR', message: /is a symlink/ });
  assert.throws(() => claimMeshDir(`${link}/`), { code: 'PRIVATE_DIR', message: /is a symlink/ });

  const ok = fresh('state');
  mkdirSync(ok);
  chmodSync(ok, 0o755);
  // up.lock is written whole under a name of its own first: never through a symlink found there.
  const target = loot();
  symlinkSync(target, path.join(ok, `up.lock.${process.pid}`));
  assert.deepEqual(claimMeshDir(ok), { claimed: true });
  assert.equal(modeOf(ok), 0o700);
  assert.equal(readFileSync(target, 'utf8'), '');
  assert.equal(readFileSync(path.join(ok, 'up.lock'), 'utf8').split(' ')[0], String(process.pid));
  releaseMeshDir(ok);
});

async function token(out: string, caDir: string): Promise<typeof process.exitCode> {
  const program = new Command().exitOverride();
  define(program);
  const before = process.exitCode;
  try {
    await program.parseAsync(['node', 'outrigger', 'token', '--ca-dir', caDir, '-n', 'shop', '--service-account', 'api', '--workload', 'api', '-o', out]);
    return process.exitCode;
  } finally {
    process.exitCode = before;
  }
}

test('outrigger token -o: a symlink at the old predictable temporary name, or at the output itself, is never written through', async () => {
  const caDir = fresh('ca');
  mkdirSync(caDir, { mode: 0o700 });
  writeFileSync(path.join(caDir, 'token-key'), Buffer.alloc(32, 7), { mode: 0o600 });
  const shared = fresh('shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777); // a shared, non-sticky directory the operator writes the token into
  const out = path.join(shared, 'api.token');
  const atTemp = loot();
  symlinkSync(atTemp, `${out}.${process.pid}.tmp`);
  assert.equal(await token(out, caDir), undefined);
  assert.equal(readFileSync(atTemp, 'utf8'), '');
  assert.ok(!lstatSync(out).isSymbolicLink());
  assert.match(readFileSync(out, 'utf8'), /^or1\./);
  assert.equal(modeOf(out), 0o600);

  const atOutput = loot();
  rmSync(out);
  symlinkSync(atOutput, out);
  assert.equal(await token(out, caDir), undefined);
  assert.equal(readFileSync(atOutput, 'utf8'), '');
  assert.ok(!lstatSync(out).isSymbolicLink());
  assert.match(readFileSync(out, 'utf8'), /^or1\./);
  assert.deepEqual(readdirSync(shared).sort(), ['api.token', `api.token.${process.pid}.tmp`], 'no temporary file of its own left');
});

test('the CA directory is checked the same way before its key or the token key is written into it', () => {
  const material = { caKeyPem: 'k', caCertPem: 'c', rootCertPem: 'r', certChainPem: '', trustBundlePem: 'r' };
  const open = fresh('ca');
  mkdirSync(open, { mode: 0o700 });
  chmodSync(open, 0o777);
  assert.throws(() => writeCaMaterial(open, material), { code: 'PRIVATE_DIR', message: /is writable by its group and others/ });
  assert.deepEqual(readdirSync(open), [], 'no key written into it');
  assert.throws(() => loadTokenKey(open, true), { code: 'PRIVATE_DIR' });
  assert.deepEqual(readdirSync(open), []);

  const linked = fresh('ca');
  const elsewhere = fresh('elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  symlinkSync(elsewhere, linked);
  assert.throws(() => writeCaMaterial(linked, material), { code: 'PRIVATE_DIR', message: /is a symlink/ });
  assert.throws(() => loadTokenKey(linked, true), { code: 'PRIVATE_DIR', message: /is a symlink/ });
  assert.deepEqual(readdirSync(elsewhere), []);

  const ours = fresh('ca');
  writeCaMaterial(ours, material);
  assert.equal(modeOf(ours), 0o700);
  assert.equal(loadTokenKey(ours, true).length, 32);
});

// Debian OpenSSH's secure_permissions (user-group-modes): a group-writable directory is acceptable only
// when its group has at least one member and every member is the directory's owner. Members: users
// whose primary group it is (passwd) and those the group lists (group).
test('a group-writable directory: its group must have members, and only its owner', () => {
  const passwd = [
    '# local accounts',
    '',
    'root:x:0:0:root:/root:/bin/bash',
    'alice:x:1001:1001::/home/alice:/bin/sh',
    'bob:x:1002:1002::/home/bob:/bin/sh',
    'carol:x:1003:1010::/home/carol:/bin/sh',
    '+@netgroup::::::',
    '-dave:x:1004:1001:::',
    '+',
  ];
  const group = [
    '# groups',
    'root:x:0:',
    '',
    'alice:x:1001:',
    'bob:x:1002:bob',
    'staff:x:20:root',
    'domain-users:x:5000:',
    'shared:x:1005:alice,bob',
    'sudoer:x:1006:alice,root',
    'carols:x:1010:carol,alice',
    '+:::',
    '-alice:x:1001:bob',
  ];
  withAccounts(passwd, group, () => {
    assert.equal(groupWriteRefusal(1001, 1001), undefined, 'a user private group (primary member only)');
    assert.equal(groupWriteRefusal(1002, 1002), undefined, 'listed as well as primary: still only the owner');
    assert.equal(groupWriteRefusal(0, 0), undefined, "root's group, a directory of root's");
    assert.match(groupWriteRefusal(1001, 0) ?? '', /user alice \(uid 1001\) is in it too/, "alice's group is not root's alone");
    assert.match(groupWriteRefusal(5000, 1001) ?? '', /gid 5000\) has no members/, 'zero members: refused');
    assert.match(groupWriteRefusal(20, 1001) ?? '', /user root is in it too/, 'root listed, not the owner (macOS staff)');
    assert.equal(groupWriteRefusal(20, 0), undefined, 'root listed, and the owner');
    assert.match(groupWriteRefusal(1005, 1001) ?? '', /user bob is in it too/);
    assert.match(groupWriteRefusal(1006, 1001) ?? '', /user root is in it too/, 'the sudo user or root listed is refused unless the owner');
    assert.match(groupWriteRefusal(1010, 1003) ?? '', /user alice is in it too/);
    assert.match(groupWriteRefusal(7000, 1001) ?? '', /gid 7000\) is not in .*group/, 'a group only a directory service knows');
    assert.match(groupWriteRefusal(1001, 4242) ?? '', /user alice \(uid 1001\) is in it too/, 'an owner with no local account');
  });
});

test('a group-writable project directory whose group has no local members, or lists root, is refused; never on macOS', () => {
  const [uid, gid] = [process.getuid!(), process.getgid!()];
  const proj = fresh('proj');
  mkdirSync(proj);
  chmodSync(proj, 0o775);
  const state = path.join(proj, '.outrigger');
  const refused = new RegExp(`^${state} cannot be kept private: ${proj} is writable by its group \\(mode 0775\\) and not sticky, and its group \\(gid ${gid}\\) has no members`);
  withAccounts([`me:x:${uid}:${gid + 1}::/:/bin/sh`], [`me:x:${gid}:`], () => assert.throws(() => makePrivateDir(state), { code: 'PRIVATE_DIR', message: refused }));
  if (uid !== 0) {
    withAccounts(['root:x:0:0::/:/bin/sh', `me:x:${uid}:${gid}::/:/bin/sh`], [`me:x:${gid}:root`], () =>
      assert.throws(() => makePrivateDir(state), { code: 'PRIVATE_DIR', message: /user root is in it too/ }),
    );
  }
  assert.deepEqual(readdirSync(proj), []);
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
  try {
    withAccounts([`me:x:${uid}:${gid}::/:/bin/sh`], [`me:x:${gid}:`], () => assert.throws(() => makePrivateDir(state), { code: 'PRIVATE_DIR', message: /never trusted on macOS/ }));
  } finally {
    Object.defineProperty(process, 'platform', platform);
  }
  withAccounts([`me:x:${uid}:${gid}::/:/bin/sh`], [`me:x:${gid}:`], () => makePrivateDir(state));
  assert.equal(modeOf(state), 0o700);
});

test('the account files are read once, and again only when they change', () => {
  const [uid, gid] = [process.getuid!(), process.getgid!()];
  const proj = fresh('proj');
  mkdirSync(proj);
  chmodSync(proj, 0o775);
  const original = fs.readFileSync;
  const reads: string[] = [];
  fs.readFileSync = ((p: PathLike, ...rest: unknown[]) => {
    reads.push(String(p));
    return (original as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof fs.readFileSync;
  syncBuiltinESMExports();
  try {
    withAccounts([`me:x:${uid}:${gid}::/:/bin/sh`], [`me:x:${gid}:`], (files) => {
      const count = () => reads.filter((r) => r === files.passwd || r === files.group).length;
      for (let i = 0; i < 5; i++) makePrivateDir(path.join(proj, `s${i}`));
      assert.equal(count(), 2, 'passwd and group, once each');
      // Someone else added to the group: seen at once.
      writeFileSync(files.group, `me:x:${gid}:me,mallory\n`);
      assert.throws(() => makePrivateDir(path.join(proj, 'later')), { code: 'PRIVATE_DIR', message: /user mallory is in it too/ });
      assert.equal(count(), 4);
    });
  } finally {
    fs.readFileSync = original;
    syncBuiltinESMExports();
  }
});

test('a dangling symlink on the way is refused, naming it, and nothing is made where it (or any symlink) points', () => {
  const proj = fresh('proj');
  mkdirSync(proj, { mode: 0o700 });
  const nowhere = fresh('made-by-root');
  symlinkSync(path.join(nowhere, 'deep'), path.join(proj, 'state'));
  const dir = path.join(proj, 'state', '.outrigger');
  assert.throws(() => makePrivateDir(dir), {
    code: 'PRIVATE_DIR',
    message: new RegExp(`^${dir} cannot be made: ${path.join(proj, 'state')} is a dangling symlink \\(to ${path.join(nowhere, 'deep')}, and ${nowhere} does not exist\\)`),
  });
  assert.throws(() => makeStateDirs(path.join(proj, 'state', 'a', '.outrigger')), { code: 'PRIVATE_DIR', message: /is a dangling symlink/ });
  assert.throws(() => lstatSync(nowhere), { code: 'ENOENT' }, 'its target is not made');
  // A symlink to a directory that is there: a part missing beyond it is not made either.
  const real = fresh('real');
  mkdirSync(real, { mode: 0o700 });
  const link = fresh('link');
  symlinkSync(real, link);
  assert.throws(() => makePrivateDir(path.join(link, 'a', 'b')), { code: 'PRIVATE_DIR', message: new RegExp(`${path.join(real, 'a')} does not exist and is reached through the symlink ${link} \\(to ${real}\\)`) });
  assert.deepEqual(readdirSync(real), []);
  // The directory itself, in the directory a symlink leads to, is made as before.
  makePrivateDir(path.join(link, 'a'));
  assert.equal(modeOf(path.join(real, 'a')), 0o700);
});
