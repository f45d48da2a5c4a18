// Two schools on one server: the login page asks for the school and remembers it; under
// /s/<code>/ the page signs into that school without asking.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { artifacts, launchBrowser, startServer } from './lib.mjs';

const PASSWORD = 'Sunflower-Meadow-47';

/// Runs a `konsult` command on the server's data folder (beside the running server).
function konsult(server, args) {
  const { KONSULT_BIN: bin, ...env } = process.env;
  const run = spawnSync(bin, [...args, '--data', server.data], { env, encoding: 'utf8' });
  assert.equal(run.status, 0, `konsult ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const added = konsult(server, ['school', 'add', '--code', 'b', '--name', 'Школа Б']);
  const adminPassword = added.match(/password: (\S+)/)[1];
  konsult(server, ['user', 'add', '--school', 'b', '--login', 'student1', '--name', 'Ученица Б',
    '--role', 'student', '--class', '7B', '--password', PASSWORD]);

  // At the root: the select lists both schools; the choice is remembered.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => assert.fail(String(e)));
  await page.goto(server.url + '/');
  await page.waitForSelector('#login-school');
  const options = await page.$$eval('#login-school option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options.map(([v]) => v), ['', 'b', 'demo']);
  assert.equal(options[1][1], 'Школа Б');
  assert.equal(await page.textContent('label[for=login-school]'), 'Школа');
  await page.fill('#login-name', 'student1');
  await page.fill('#login-password', 'demo');
  // Without a school the form is not sent (the select is required).
  await page.click('form.login button[type=submit]');
  assert.equal(await page.$('.home'), null);
  await page.selectOption('#login-school', 'demo');
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('.home');
  assert.equal(await page.evaluate(() => localStorage.getItem('konsult.school')), 'demo');
  await page.screenshot({ path: join(artifacts, 'schools-demo-home.png') });
  await page.click('#logout');
  await page.waitForSelector('#login-school');
  assert.equal(await page.$eval('#login-school', (s) => s.value), 'demo', 'the last school is preselected');
  await context.close();

  // Under /s/b/: no question, the page signs into school b, and its help link is b's.
  const other = await browser.newContext();
  const pageB = await other.newPage();
  pageB.on('pageerror', (e) => assert.fail(String(e)));
  await pageB.goto(server.url + '/s/b/');
  await pageB.waitForSelector('#login-name');
  assert.equal(await pageB.$('#login-school'), null);
  await pageB.fill('#login-name', 'student1');
  await pageB.fill('#login-password', PASSWORD);
  await pageB.click('form.login button[type=submit]');
  await pageB.waitForSelector('.home');
  assert.match(await pageB.textContent('#header-user'), /Ученица Б/);
  assert.equal(await pageB.getAttribute('#help-link', 'href'), '/s/b/help');
  await pageB.screenshot({ path: join(artifacts, 'schools-b-home.png') });
  await other.close();

  // The administration's sign-in asks for the school too, and signs into the one chosen.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  adminPage.on('pageerror', (e) => assert.fail(String(e)));
  await adminPage.goto(server.url + '/admin');
  await adminPage.waitForSelector('#login-school:not([hidden])');
  await adminPage.selectOption('#login-school', 'b');
  await adminPage.fill('#login-login', 'admin');
  await adminPage.fill('#login-password', adminPassword);
  await adminPage.click('#login-form button[type=submit]');
  await adminPage.waitForFunction(() => document.body.textContent.includes('Ученица Б'));
  assert.ok(!(await adminPage.textContent('body')).includes('Ученик 1'), "the demo school's students are not listed");
  await adminPage.screenshot({ path: join(artifacts, 'schools-b-admin.png') });
  await admin.close();
  console.log('schools: ok');
} finally {
  await browser.close();
  server.stop();
}
