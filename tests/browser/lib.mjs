// Shared pieces of the browser tests: a real konsult server on a free loopback port with the demo
// school, and headless Chromium with a fake camera and microphone.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const artifacts = process.env.ARTIFACTS ?? tmpdir();

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/// Spawns `konsult serve --demo` on `data` and a free HTTP, media and metrics port each, and
/// waits until it answers `/healthz`. `env` adds KONSULT_* settings (and RUST_LOG, `warn` unless
/// given); `onLog(chunk)` hears its stderr as it comes.
async function spawnKonsult(data, env, onLog = () => {}) {
  const port = await freePort();
  const udp = await freePort();
  const metricsPort = await freePort();
  // The server refuses unknown KONSULT_* settings: the runner's own variables are not ones.
  const bin = process.env.KONSULT_BIN;
  const inherited = Object.fromEntries(Object.entries(process.env)
    .filter(([key]) => key !== 'KONSULT_BIN' && !key.startsWith('KONSULT_TEST_')));
  const child = spawn(bin, ['serve', '--demo', '--data', data, '--listen', `127.0.0.1:${port}`], {
    env: {
      ...inherited,
      KONSULT_MEDIA_LISTEN: `127.0.0.1:${udp}`,
      KONSULT_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      RUST_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
    onLog(d);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch { /* not yet listening */ }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`konsult did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  return { child, url, port, mediaPort: udp, metricsUrl, log: () => log };
}

/// Starts `konsult serve --demo` in a fresh data folder; `env` adds KONSULT_* settings.
/// `/metrics` is on a listener of its own, at `metricsUrl`.
export async function startServer(env = {}) {
  const data = mkdtempSync(join(tmpdir(), 'konsult-browser-'));
  const { child, url, port, metricsUrl, log } = await spawnKonsult(data, env);
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  };
  process.on('exit', stop);
  return { url, port, metricsUrl, data, stop, log };
}

/// Starts a cluster of `nodes` `konsult serve --demo` nodes (ids `n1`, `n2`, ...) on one fresh
/// PostgreSQL database (made on the server of `KONSULT_TEST_POSTGRES`, default
/// `postgres://postgres@127.0.0.1:5432/test`, under a random name) and the Redis at
/// `KONSULT_TEST_REDIS` (default `redis://127.0.0.1:6379`) under a random `bus.prefix`, with one
/// shared token secret, a heartbeat of 250 ms and a lease of 2 s (Redis replies may then take
/// 400 ms, which a loaded machine needs) unless `env` says otherwise.
/// Each node has its own data folder and ports; `env` adds KONSULT_* settings to every node,
/// and its log goes, as it comes, to `$ARTIFACTS/<logPrefix>-<id>.log`.
/// Returns the nodes (`{ id, url, port, mediaPort, pid, alive(), kill(signal), log() }`),
/// `owner(code)`: the id of the node holding a school's lease (or null), and `stop()`, which
/// kills the nodes still running, drops the database and deletes the prefix's keys in Redis.
export async function startCluster({ nodes = 3, env = {}, logPrefix = 'cluster' } = {}) {
  const tag = randomBytes(6).toString('hex');
  const pgBase = new URL(process.env.KONSULT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test');
  const database = `konsult_browser_${tag}`;
  const admin = new URL(pgBase);
  admin.pathname = '/postgres';
  const storeUrl = new URL(pgBase);
  storeUrl.pathname = `/${database}`;
  const redisUrl = process.env.KONSULT_TEST_REDIS ?? 'redis://127.0.0.1:6379';
  const prefix = `konsult-browser-${tag}:`;
  const psql = (sql) => execFileSync('psql', [admin.href, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15000 });
  const redis = (...args) => execFileSync('redis-cli', ['-u', redisUrl, ...args], { encoding: 'utf8', timeout: 10000 }).trim();
  psql(`CREATE DATABASE "${database}"`);

  const started = [];
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const node of started) node.kill('SIGKILL');
    for (const node of started) rmSync(node.data, { recursive: true, force: true });
    try {
      psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } catch (err) {
      console.error(`cluster: cannot drop database ${database}: ${err.stderr ?? err}`);
    }
    try {
      const keys = redis('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean);
      for (let i = 0; i < keys.length; i += 100) redis('del', ...keys.slice(i, i + 100));
    } catch (err) {
      console.error(`cluster: cannot delete the Redis keys under ${prefix}: ${err}`);
    }
  };
  process.on('exit', stop);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      stop();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }

  const shared = {
    KONSULT_STORE_URL: storeUrl.href,
    KONSULT_BUS_URL: redisUrl,
    KONSULT_BUS_PREFIX: prefix,
    KONSULT_BUS_HEARTBEAT: '250ms',
    KONSULT_BUS_LEASE: '2s',
    KONSULT_AUTH_JWT_SECRET: randomBytes(32).toString('base64'),
    RUST_LOG: 'info',
    ...env,
  };
  try {
    const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
    await Promise.all(ids.map(async (id) => {
      const data = mkdtempSync(join(tmpdir(), `konsult-browser-${id}-`));
      const file = createWriteStream(join(artifacts, `${logPrefix}-${id}.log`));
      const node = { id, data, exited: null };
      started.push(node);
      node.kill = () => {};
      const spawned = await spawnKonsult(data, { ...shared, KONSULT_BUS_NODE_ID: id }, (d) => file.write(d));
      const { child } = spawned;
      child.once('exit', (code, signal) => {
        node.exited = { code, signal, at: Date.now() };
        file.end();
      });
      Object.assign(node, spawned, {
        pid: child.pid,
        alive: () => node.exited === null,
        kill: (signal = 'SIGKILL') => {
          if (node.exited === null) child.kill(signal);
        },
      });
    }));
  } catch (err) {
    stop();
    throw err;
  }
  started.sort((a, b) => a.id.localeCompare(b.id));
  /// The node holding school `code` now, from its lease (`"<epoch> <node>"`).
  const owner = (code) => {
    const lease = redis('get', `${prefix}lease:${code}`);
    return lease ? lease.split(' ')[1] : null;
  };
  return { nodes: started, owner, prefix, database, stop };
}

/// Headless Chromium with a fake camera and microphone that needs no permission prompt.
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      // Host candidates as plain addresses: the machines running the tests resolve no mDNS.
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
}

/// A new browser context and page logged in as `login` (password `demo`), on its home screen.
/// `contextOptions` go to the new context (`timezoneId`, `locale`, ...), `permissions` are
/// granted besides camera and microphone (Chromium then refuses every other permission),
/// `initScript` runs in the page before its own scripts, `beforeGoto(page)` before it loads.
/// Page errors are collected in `page.errors`.
/// `page.cutConnection()` drops the page's WebSocket on both ends, as a bad network would.
/// `page.dropFromServer = (msg) => boolean` makes the page lose the server's messages it
/// matches (parsed JSON), as a flaky link would. `page.rewriteFromServer = (msg) => msg` hands
/// the page a changed message instead (parsed JSON in, JSON out), as a broken middlebox would.
/// `page.socketLog` lists what the server sent (`{at, type, resumed, session, version}`, every
/// message but `signal`) and how it closed the socket (`{at, type: 'close', code, reason}`).
export async function loginAs(browser, url, login, { viewport, beforeLogin, beforeGoto, contextOptions = {}, permissions = [], initScript } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1100, height: 800 }, ...contextOptions });
  await context.grantPermissions(['camera', 'microphone', ...permissions], { origin: url });
  if (initScript) await context.addInitScript(initScript);
  const sockets = [];
  let page = null;
  await context.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      const msg = typeof message === 'string' ? JSON.parse(message) : null;
      if (msg && msg.type !== 'signal') page?.socketLog.push({ at: Date.now(), type: msg.type, resumed: msg.resumed, session: msg.session?.id ?? msg.session, version: msg.version });
      const drop = page?.dropFromServer;
      if (drop && msg && drop(msg)) return;
      const rewrite = page?.rewriteFromServer;
      if (rewrite && msg) {
        ws.send(JSON.stringify(rewrite(msg)));
        return;
      }
      ws.send(message);
    });
    server.onClose((code, reason) => {
      page?.socketLog.push({ at: Date.now(), type: 'close', code, reason });
      ws.close({ code, reason });
    });
    sockets.push({ ws, server });
  });
  page = await context.newPage();
  page.dropFromServer = null;
  page.rewriteFromServer = null;
  page.socketLog = [];
  page.cutConnection = async () => {
    for (const { ws, server } of sockets.splice(0)) {
      await server.close({ code: 1000 });
      await ws.close({ code: 1012, reason: 'network cut by the test' });
    }
  };
  page.errors = [];
  page.warnings = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(`console: ${m.text()}`);
    if (m.type() === 'warning') page.warnings.push(m.text());
  });
  if (beforeGoto) await beforeGoto(page);
  await page.goto(url + '/');
  await page.waitForSelector('#login-name');
  if (beforeLogin) await beforeLogin(page);
  await page.fill('#login-name', login);
  await page.fill('#login-password', 'demo');
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('.home');
  return page;
}

/// Waits until `fn` (run in the page) returns a truthy value, polling; returns it.
export async function waitInPage(page, fn, arg, timeout = 30000) {
  const handle = await page.waitForFunction(fn, arg, { timeout, polling: 250 });
  return handle.jsonValue();
}

/// Decoded video frames of the page's current session.
export async function framesDecoded(page) {
  return page.evaluate(() => window.konsult.framesDecoded());
}

/// Polls until the page's session has decoded more than `min` video frames.
export async function waitForFrames(page, min = 0, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const frames = await framesDecoded(page);
    if (frames > min) return frames;
    if (Date.now() > deadline) throw new Error(`no video decoded (framesDecoded ${frames})`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
