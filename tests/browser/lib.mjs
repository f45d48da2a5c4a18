// Shared pieces of the browser tests: a real konsult server on a free loopback port with the demo
// school, and headless Chromium with a fake camera and microphone.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

/// Starts `konsult serve --demo` in a fresh data folder; `env` adds KONSULT_* settings.
/// `/metrics` is on a listener of its own, at `metricsUrl`.
export async function startServer(env = {}) {
  const data = mkdtempSync(join(tmpdir(), 'konsult-browser-'));
  const port = await freePort();
  const udp = await freePort();
  const metricsPort = await freePort();
  // The server refuses unknown KONSULT_* settings: the runner's own variable is not one.
  const { KONSULT_BIN: bin, ...inherited } = process.env;
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
  child.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch { /* not yet listening */ }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`konsult did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  };
  process.on('exit', stop);
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  return { url, port, metricsUrl, data, stop, log: () => log };
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
export async function loginAs(browser, url, login, { viewport, beforeLogin, beforeGoto, contextOptions = {}, permissions = [], initScript } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1100, height: 800 }, ...contextOptions });
  await context.grantPermissions(['camera', 'microphone', ...permissions], { origin: url });
  if (initScript) await context.addInitScript(initScript);
  const sockets = [];
  let page = null;
  await context.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      const drop = page?.dropFromServer;
      if (drop && typeof message === 'string' && drop(JSON.parse(message))) return;
      const rewrite = page?.rewriteFromServer;
      if (rewrite && typeof message === 'string') {
        ws.send(JSON.stringify(rewrite(JSON.parse(message))));
        return;
      }
      ws.send(message);
    });
    sockets.push({ ws, server });
  });
  page = await context.newPage();
  page.dropFromServer = null;
  page.rewriteFromServer = null;
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
