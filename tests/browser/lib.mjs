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
export async function startServer(env = {}) {
  const data = mkdtempSync(join(tmpdir(), 'konsult-browser-'));
  const port = await freePort();
  const udp = await freePort();
  // The server refuses unknown KONSULT_* settings: the runner's own variable is not one.
  const { KONSULT_BIN: bin, ...inherited } = process.env;
  const child = spawn(bin, ['serve', '--demo', '--data', data, '--listen', `127.0.0.1:${port}`], {
    env: { ...inherited, KONSULT_MEDIA_LISTEN: `127.0.0.1:${udp}`, RUST_LOG: 'warn', ...env },
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
  return { url, port, data, stop, log: () => log };
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
    ],
  });
}
