#!/usr/bin/env node
'use strict';
/**
 * Builds gamesniff's own, patched copy of the `cap` addon (libpcap binding).
 *
 * Run by `postinstall` (also in a fresh clone, before `prepare` compiles
 * TypeScript, so it is plain CommonJS and needs nothing from dist/), or by
 * hand: `node src/capture/native/install.js [--force]`.
 *
 * 1. find the `cap` npm installed, wherever it is (hoisted or nested);
 * 2. copy its binding.gyp and src/ into a fresh directory next to
 *    dist/native/cap under gamesniff's package root (the user's shared `cap`
 *    is never modified: other packages may use it);
 * 3. apply src/capture/patches/cap-0.2.1.patch with a strict hunk applier
 *    (every context line must match exactly, at the line the hunk names);
 * 4. point binding.gyp at the `nan` headers that `cap` itself resolves;
 * 5. run node-gyp there, load the result once to check it, and move it to
 *    dist/native/cap (build/Release/cap.node is what live capture loads).
 *
 * It never fails an install: gamesniff reads capture files without libpcap.
 * On failure it prints one line saying what is missing and records it in
 * dist/native/status.json, which gamesniff quotes when live capture is asked
 * for. Run by hand (outside npm), it exits 1 on failure.
 */
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../../..');
const PATCH_FILE = path.join(__dirname, '../patches/cap-0.2.1.patch');
const NATIVE_DIR = path.join(ROOT, 'dist/native');
const OUT_DIR = path.join(NATIVE_DIR, 'cap');
const BINDING = path.join(OUT_DIR, 'build/Release/cap.node');
const STATUS_FILE = path.join(NATIVE_DIR, 'status.json');
const LOG_FILE = path.join(NATIVE_DIR, 'build.log');
const NAN_INCLUDE = `"<!(node -e \\"require('nan')\\")"`;

class InstallError extends Error {
  constructor(message, hint) {
    super(message);
    this.hint = hint || '';
  }
}

// ---------------------------------------------------------------- the patch

/** Parses a unified diff into files and hunks. Text before the first `---` is a comment. */
function parsePatch(text) {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const files = [];
  let file = null;
  let hunk = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith('--- ') && i + 1 < lines.length && lines[i + 1].startsWith('+++ ')) {
      const name = lines[i + 1].slice(4).split('\t')[0].trim().replace(/^b\//, '');
      file = { path: name, hunks: [] };
      files.push(file);
      hunk = null;
      i++;
      continue;
    }
    const h = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(l);
    if (h) {
      if (!file) throw new Error(`patch line ${i + 1}: hunk before any file header`);
      hunk = {
        line: i + 1,
        oldStart: Number(h[1]),
        oldCount: h[2] === undefined ? 1 : Number(h[2]),
        newCount: h[4] === undefined ? 1 : Number(h[4]),
        lines: [],
      };
      file.hunks.push(hunk);
      continue;
    }
    if (!hunk) continue; // comment or `diff --git`/`index` lines
    const tag = l[0];
    if (tag === ' ' || tag === '-' || tag === '+') hunk.lines.push({ tag, text: l.slice(1) });
    else if (l === '') hunk.lines.push({ tag: ' ', text: '' }); // an empty context line whose space was stripped
    else if (tag === '\\') continue; // "\ No newline at end of file"
    else if (l.startsWith('diff ') || l.startsWith('index ')) hunk = null;
    else throw new Error(`patch line ${i + 1}: unexpected "${l.slice(0, 40)}"`);
  }
  for (const f of files) {
    for (const hk of f.hunks) {
      const olds = hk.lines.filter((x) => x.tag !== '+').length;
      const news = hk.lines.filter((x) => x.tag !== '-').length;
      if (olds !== hk.oldCount || news !== hk.newCount) {
        throw new Error(`patch line ${hk.line}: the hunk has ${olds}/${news} lines, its header says ${hk.oldCount}/${hk.newCount}`);
      }
    }
  }
  return files;
}

/**
 * Applies one file's hunks to `source`, strictly: each hunk must start at
 * the line its header names (shifted by what earlier hunks added or removed)
 * and its context and removed lines must match exactly. Throws with the hunk
 * and the first differing line otherwise.
 */
function applyHunks(source, file) {
  const lines = source.split('\n');
  const out = [];
  let pos = 0; // index into lines
  file.hunks.forEach((hk, n) => {
    const start = hk.oldCount === 0 ? hk.oldStart : hk.oldStart - 1;
    if (start < pos || start > lines.length) {
      throw new Error(`${file.path}: hunk ${n + 1} (line ${hk.oldStart}) is out of order or past the end`);
    }
    while (pos < start) out.push(lines[pos++]);
    for (const l of hk.lines) {
      if (l.tag === '+') {
        out.push(l.text);
        continue;
      }
      if (lines[pos] !== l.text) {
        throw new Error(
          `${file.path}: hunk ${n + 1} (line ${hk.oldStart}) does not match at line ${pos + 1}: ` +
            `expected ${JSON.stringify(l.text)}, found ${JSON.stringify(lines[pos] === undefined ? '<end of file>' : lines[pos])}`,
        );
      }
      if (l.tag === ' ') out.push(l.text);
      pos++;
    }
  });
  while (pos < lines.length) out.push(lines[pos++]);
  return out.join('\n');
}

/** The GAMESNIFF_PATCH version the patch defines (what the built addon exports as gamesniffPatch). */
function patchVersion(patchText) {
  const m = /^\+#define GAMESNIFF_PATCH (\d+)\s*$/m.exec(patchText);
  if (!m) throw new Error('the patch defines no GAMESNIFF_PATCH');
  return Number(m[1]);
}

// ---------------------------------------------------------------- finding things

function findCap() {
  let pkgJson;
  try {
    pkgJson = require.resolve('cap/package.json', { paths: [ROOT] });
  } catch {
    throw new InstallError(
      'the "cap" package is not installed (npm drops it when its own build fails, usually for lack of libpcap headers)',
      'install libpcap-dev (Debian/Ubuntu: apt-get install libpcap-dev), then reinstall gamesniff',
    );
  }
  const dir = path.dirname(pkgJson);
  const version = JSON.parse(fs.readFileSync(pkgJson, 'utf8')).version;
  let nanDir;
  try {
    nanDir = path.dirname(require.resolve('nan/package.json', { paths: [dir] }));
  } catch {
    throw new InstallError(`cap ${version} is installed at ${dir} but its dependency "nan" cannot be found from there`, 'reinstall gamesniff');
  }
  return { dir, version, nanDir };
}

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** node-gyp: npm's own (npm names it in lifecycle scripts), the one bundled with the running npm or node, then PATH. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    try {
      candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.dirname(process.env.npm_execpath)] }));
    } catch {
      // not an npm with a bundled node-gyp
    }
  }
  const nodeDir = path.dirname(process.execPath);
  candidates.push(
    path.join(nodeDir, '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    path.join(nodeDir, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  );
  for (const c of candidates) {
    if (!isFile(c)) continue;
    return /\.[cm]?js$/.test(c) ? { cmd: process.execPath, args: [c], name: c } : { cmd: c, args: [], name: c };
  }
  const onPath = spawnSync('node-gyp', ['--version'], { encoding: 'utf8', shell: process.platform === 'win32' });
  if (onPath.status === 0) return { cmd: 'node-gyp', args: [], name: 'node-gyp (PATH)', shell: process.platform === 'win32' };
  throw new InstallError('node-gyp was not found (it ships with npm)', 'install npm, or run: npm install -g node-gyp');
}

/** Headers for the running node, so no download is needed: npm's nodedir config, else the ones installed next to node. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (isFile(path.join(prefix, 'include/node/node.h')) && isFile(path.join(prefix, 'include/node/common.gypi'))) {
    return [`--nodedir=${prefix}`];
  }
  return [];
}

// ---------------------------------------------------------------- failures

/** One line on what is missing, from node-gyp's output. */
function diagnose(log) {
  if (/pcap\/pcap\.h|pcap\.h: No such file|'pcap\.h' file not found/.test(log)) {
    return 'the libpcap headers are missing: apt-get install libpcap-dev (Fedora: dnf install libpcap-devel; macOS: xcode-select --install)';
  }
  if (/cannot find -lpcap|library not found for -lpcap/.test(log)) {
    return 'the libpcap library is missing: apt-get install libpcap-dev (Fedora: dnf install libpcap-devel)';
  }
  if (/find Python|Could not find any Python|python.*not found/i.test(log)) {
    return 'Python 3 is missing (node-gyp needs it): apt-get install python3';
  }
  if (/not found: make|make: (command )?not found|spawn make ENOENT|gmake.*not found/i.test(log)) {
    return 'make is missing: apt-get install build-essential';
  }
  if (/\b(g\+\+|c\+\+|cc|gcc|clang\+\+)(: command)?: not found|(g\+\+|c\+\+|gcc|cc): No such file or directory|spawn (g\+\+|c\+\+|cc) ENOENT|No such file or directory: '(g\+\+|c\+\+|cc)'/.test(log)) {
    return 'a C++ compiler is missing: apt-get install build-essential (or g++)';
  }
  if (/getaddrinfo|ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|unable to download|tarball download/i.test(log)) {
    return "node-gyp could not download the Node.js headers (offline?): point npm at local ones with npm config set nodedir <dir with include/node>";
  }
  const last = log.split('\n').filter((l) => /error/i.test(l)).slice(-1)[0];
  return `node-gyp failed${last ? `: ${last.trim().slice(0, 200)}` : ''}`;
}

function writeStatus(status) {
  try {
    fs.mkdirSync(NATIVE_DIR, { recursive: true });
    fs.writeFileSync(STATUS_FILE, JSON.stringify(status, null, 2) + '\n');
  } catch {
    // nothing more to do
  }
}

// ---------------------------------------------------------------- the build

function stamp(cap, patchText) {
  return {
    cap: cap.version,
    patchSha256: crypto.createHash('sha256').update(patchText).digest('hex'),
    nodeModules: process.versions.modules,
    platform: `${process.platform}-${process.arch}`,
  };
}

function upToDate(want) {
  try {
    const st = JSON.parse(fs.readFileSync(STATUS_FILE, 'utf8'));
    return st.ok === true && isFile(BINDING) && ['cap', 'patchSha256', 'nodeModules', 'platform'].every((k) => st[k] === want[k]);
  } catch {
    return false;
  }
}

function build({ force = false } = {}) {
  const t0 = Date.now();
  const patchText = fs.readFileSync(PATCH_FILE, 'utf8');
  const expected = patchVersion(patchText);
  const cap = findCap();
  const want = stamp(cap, patchText);
  if (!force && process.env.npm_command !== 'rebuild' && upToDate(want)) {
    return { skipped: true, cap, expected };
  }

  // patch a copy
  const files = parsePatch(patchText);
  fs.mkdirSync(NATIVE_DIR, { recursive: true });
  const work = fs.mkdtempSync(path.join(NATIVE_DIR, 'cap-build-'));
  try {
    fs.copyFileSync(path.join(cap.dir, 'binding.gyp'), path.join(work, 'binding.gyp'));
    fs.cpSync(path.join(cap.dir, 'src'), path.join(work, 'src'), { recursive: true });
    for (const f of files) {
      const target = path.join(work, f.path);
      if (!isFile(target)) throw new InstallError(`the patch is for cap 0.2.1 and does not fit cap ${cap.version} (${cap.dir}): no ${f.path}`, 'install cap 0.2.1');
      try {
        fs.writeFileSync(target, applyHunks(fs.readFileSync(target, 'utf8'), f));
      } catch (e) {
        throw new InstallError(
          cap.version === '0.2.1'
            ? `the cap 0.2.1 at ${cap.dir} is not the published one (changed in place?), the patch does not apply: ${e.message}`
            : `the patch is for cap 0.2.1 and does not apply to cap ${cap.version} (${cap.dir}): ${e.message}`,
          cap.version === '0.2.1' ? `reinstall it: rm -rf ${JSON.stringify(cap.dir)} && npm install` : 'install cap 0.2.1',
        );
      }
    }
    const gypFile = path.join(work, 'binding.gyp');
    const gyp = fs.readFileSync(gypFile, 'utf8');
    if (!gyp.includes(NAN_INCLUDE)) {
      throw new InstallError(`binding.gyp of cap ${cap.version} does not include nan the way cap 0.2.1 does`, 'install cap 0.2.1');
    }
    // where cap finds nan, whether hoisted or nested under cap
    fs.writeFileSync(gypFile, gyp.replace(NAN_INCLUDE, JSON.stringify(cap.nanDir)));

    // compile
    const gypCmd = findNodeGyp();
    const args = [...gypCmd.args, 'rebuild', ...nodedirArgs()];
    const logFd = fs.openSync(LOG_FILE, 'w');
    fs.writeSync(logFd, `$ ${gypCmd.cmd} ${args.join(' ')}   (in ${work})\n`);
    const r = spawnSync(gypCmd.cmd, args, {
      cwd: work,
      stdio: ['ignore', logFd, logFd],
      timeout: 10 * 60 * 1000,
      shell: gypCmd.shell,
      env: process.env,
    });
    fs.closeSync(logFd);
    if (r.error || r.status !== 0) {
      const log = fs.readFileSync(LOG_FILE, 'utf8');
      throw new InstallError(diagnose(log + String(r.error ? r.error.message : '')), `full log: ${LOG_FILE}`);
    }

    // check what was built
    const built = path.join(work, 'build/Release/cap.node');
    let addon;
    try {
      addon = require(built);
    } catch (e) {
      throw new InstallError(`the built binding does not load: ${String(e.message).split('\n')[0]}`, `full log: ${LOG_FILE}`);
    }
    if (addon.gamesniffPatch !== expected) {
      throw new InstallError(`the built binding reports patch ${addon.gamesniffPatch}, expected ${expected}`, `full log: ${LOG_FILE}`);
    }
    new addon.BpfFilter('tcp', 1).free();

    // the build directory becomes dist/native/cap
    fs.rmSync(path.join(work, 'build/Release/obj.target'), { recursive: true, force: true });
    fs.rmSync(OUT_DIR, { recursive: true, force: true });
    fs.renameSync(work, OUT_DIR);
  } catch (e) {
    fs.rmSync(work, { recursive: true, force: true });
    throw e;
  }
  writeStatus({ ok: true, ...want, patch: expected, node: process.version, seconds: (Date.now() - t0) / 1000, builtAt: new Date().toISOString() });
  return { skipped: false, cap, expected, seconds: (Date.now() - t0) / 1000 };
}

function main() {
  const force = process.argv.includes('--force');
  const underNpm = Boolean(process.env.npm_lifecycle_event);
  const rel = path.relative(process.cwd(), BINDING) || BINDING;
  try {
    const r = build({ force });
    if (r.skipped) console.log(`gamesniff: the patched cap binding is up to date (${rel}; --force rebuilds it)`);
    else console.log(`gamesniff: built the patched cap binding (cap ${r.cap.version}, patch ${r.expected}) in ${r.seconds.toFixed(1)} s: ${rel}`);
    return 0;
  } catch (e) {
    const reason = e instanceof InstallError ? e.message : `unexpected error: ${e && e.stack ? e.stack : e}`;
    const hint = e instanceof InstallError ? e.hint : '';
    writeStatus({ ok: false, error: reason, hint, node: process.version, at: new Date().toISOString() });
    console.log(
      `gamesniff: live capture will not be available: could not build the patched cap binding: ${reason}` +
        `${hint ? ` (${hint})` : ''}. Reading capture files still works. ` +
        `Once fixed, run: node ${JSON.stringify(__filename)}`,
    );
    return underNpm ? 0 : 1;
  }
}

module.exports = { parsePatch, applyHunks, patchVersion, diagnose, BINDING, STATUS_FILE, PATCH_FILE };

if (require.main === module) process.exitCode = main();
