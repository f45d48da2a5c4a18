// The web client loads from the binary in Chromium, in Russian, without console errors.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, startServer } from './lib.mjs';

const server = await startServer();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const response = await page.goto(server.url + '/');
  assert.equal(response.status(), 200);
  assert.equal(await page.getAttribute('html', 'lang'), 'ru');
  await page.screenshot({ path: join(artifacts, 'smoke-start.png') });
  assert.deepEqual(errors, []);
  console.log('smoke: ok');
} finally {
  await browser.close();
  server.stop();
}
