// An automated WCAG 2.1 AA audit (axe-core, run inside the page) of the pages people use:
// sign-in and a student's home on a phone, a teacher's home, /help on a desktop and a phone, and
// the administration's screens with the report's charts; none may have a serious or critical
// violation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';
import { holdConsultation, token } from './admin-lib.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const server = await startServer();
const browser = await launchBrowser();
const step = (what) => console.log(`a11y: ${what}`);

/// The serious and critical violations axe finds on the page as it is now.
async function audit(page, name) {
  // Evaluated through the DevTools protocol: the pages' CSP forbids inline scripts.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  await page.screenshot({ path: join(artifacts, `a11y-${name}.png`), fullPage: true });
  assert.deepEqual(violations, [], `${name}: no serious or critical violations`);
}

try {
  const desktop = { width: 1100, height: 800 };
  const phone = { width: 360, height: 740 };

  step('/help on a desktop and on a phone');
  for (const [name, viewport] of [['help-desktop', desktop], ['help-phone', phone]]) {
    const page = await browser.newPage({ viewport });
    await page.goto(`${server.url}/help`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    await audit(page, name);
    await page.close();
  }

  step('sign-in on a phone');
  const signIn = await browser.newPage({ viewport: phone });
  await signIn.goto(`${server.url}/`);
  await signIn.locator('#login-name').waitFor();
  await audit(signIn, 'sign-in-phone');
  await signIn.close();

  step('a student on a phone, a teacher on a desktop, and their live session');
  const student = await loginAs(browser, server.url, 'student1', { viewport: phone });
  await audit(student, 'student-phone');
  const teacher = await loginAs(browser, server.url, 'teacher1', { viewport: desktop });
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  await audit(teacher, 'teacher');
  await student.locator('.teacher', { hasText: 'Смирнова' }).first().locator('.status-available').waitFor();
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Квадратные уравнения');
  await student.click('#ask-submit');
  await teacher.waitForSelector('.offer');
  await teacher.click('.offer .offer-accept');
  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);
  await audit(teacher, 'session-teacher');
  await audit(student, 'session-student-phone');
  await student.context().close();
  await teacher.context().close();

  step('the administration: sign-in and the report with its charts');
  const admin = await browser.newPage({ viewport: desktop });
  await admin.goto(`${server.url}/help`);
  await holdConsultation(admin, {
    teacherToken: await token(server.url, 'teacher3'), studentToken: await token(server.url, 'student9'),
    subject: 'russian', topic: 'Причастия',
  });
  await admin.goto(`${server.url}/admin`);
  await admin.locator('#login-form').getByLabel('Логин').waitFor();
  await audit(admin, 'admin-sign-in');
  await admin.locator('#login-form').getByLabel('Логин').fill('admin');
  await admin.locator('#login-form').getByLabel('Пароль').fill('demo');
  await admin.locator('#login-form button[type=submit]').click();
  await admin.locator('#users-table tbody tr').first().waitFor();
  await audit(admin, 'admin-users');
  await admin.locator('#nav a[data-view="summary"]').click();
  await admin.locator('.chart[data-chart="offline_answered"] canvas').waitFor();
  await audit(admin, 'admin-report');
  step('ok');
} finally {
  await browser.close();
  server.stop();
}
