// An automated WCAG 2.1 AA audit (axe-core, run inside the page) of the pages people use:
// sign-in and a student's home on a phone, a teacher's home, /help on a desktop and a phone, and
// every screen of the administration with data on it (users with an import's preview and result
// and the password dialogs, classes and subjects, the record, the report with its charts, the
// links of /help, the audit log), on a desktop and on a phone; none may have a serious or
// critical violation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';
import { askOffline, holdConsultation, token } from './admin-lib.mjs';

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

  step('the administration: sign-in and the users screen');
  const admin = await browser.newPage({ viewport: desktop });
  await admin.goto(`${server.url}/help`);
  await holdConsultation(admin, {
    teacherToken: await token(server.url, 'teacher3'), studentToken: await token(server.url, 'student9'),
    subject: 'russian', topic: 'Причастия',
  });
  // A deferred question and a confidential one to the psychologist, for the record's rows.
  await askOffline(admin, { studentToken: await token(server.url, 'student10'), subject: 'physics', topic: 'Закон Ома' });
  await askOffline(admin, { studentToken: await token(server.url, 'student11'), subject: 'support', topic: 'Мне тревожно' });
  await admin.goto(`${server.url}/admin`);
  await admin.locator('#login-form').getByLabel('Логин').waitFor();
  await audit(admin, 'admin-sign-in');
  await admin.locator('#login-form').getByLabel('Логин').fill('admin');
  await admin.locator('#login-form').getByLabel('Пароль').fill('demo');
  await admin.locator('#login-form button[type=submit]').click();
  await admin.locator('#users-table tbody tr').first().waitFor();
  await audit(admin, 'admin-users');
  /// Unfolds the numbers under each of the report's charts.
  const openChartNumbers = async () => {
    const folded = admin.locator('.chart-numbers:not([open]) > summary');
    while (await folded.count()) await folded.first().click();
    assert.equal(await admin.locator('.chart-numbers[open] table').count(), 4);
  };

  step('the administration: an import with a bad line, then imported, and a password reset');
  await admin.getByText('Импорт из электронного журнала (CSV)').click();
  const importFile = admin.locator('#import-form').getByLabel('Файл CSV');
  const journal = (role) => Buffer.from(`login;name;role;class\nivanova;Мария Иванова;student;10Б\npetrov;Пётр Петров;${role};10Б\n`);
  await importFile.setInputFiles({ name: 'journal.csv', mimeType: 'text/csv', buffer: journal('pupil') });
  await admin.getByRole('button', { name: 'Проверить' }).click();
  await admin.locator('#import-errors li[data-line="3"]').waitFor();
  await audit(admin, 'admin-import-preview');
  await importFile.setInputFiles({ name: 'journal.csv', mimeType: 'text/csv', buffer: journal('student') });
  await admin.getByRole('button', { name: 'Проверить' }).click();
  await admin.locator('#import-summary', { hasText: 'Ошибок нет' }).waitFor();
  await admin.getByRole('button', { name: 'Импортировать' }).click();
  await admin.locator('#import-passwords tbody tr').first().waitFor();
  await audit(admin, 'admin-import-done');
  await admin.locator('#import-close').click();
  await admin.locator('#users-q').fill('student7');
  await admin.getByRole('button', { name: 'Найти' }).click();
  await admin.getByRole('button', { name: 'Сбросить пароль пользователя student7' }).click();
  await admin.locator('#confirm[open]').waitFor();
  await audit(admin, 'admin-confirm');
  await admin.locator('#confirm-yes').click();
  await admin.locator('#secret[open] #secret-value').filter({ hasText: /\S/ }).waitFor();
  await audit(admin, 'admin-password');
  await admin.locator('#secret-close').click();

  step('the administration: classes and subjects, with a subject added');
  await admin.locator('#nav a[data-view="classes"]').click();
  await admin.locator('#classes-table tbody tr').first().waitFor();
  await admin.locator('#subject-code').fill('chemistry');
  await admin.locator('#subject-name').fill('Химия');
  await admin.locator('#subject-form button[type=submit]').click();
  await admin.locator('#subjects-table tbody tr[data-code="chemistry"]').waitFor();
  await audit(admin, 'admin-classes');

  step('the administration: the record, with a held, a deferred and a confidential consultation');
  await admin.locator('#nav a[data-view="record"]').click();
  await admin.locator('#record-table tbody tr[data-outcome="held"]').waitFor();
  await admin.locator('#record-table tbody tr[data-outcome="deferred"]', { hasText: 'Закон Ома' }).waitFor();
  await admin.locator('#record-table tbody tr em').first().waitFor();
  await audit(admin, 'admin-record');

  step('the administration: the report with its charts');
  await admin.locator('#nav a[data-view="summary"]').click();
  await admin.locator('.chart[data-chart="offline_answered"] canvas').waitFor();
  await openChartNumbers();
  await audit(admin, 'admin-report');

  step('the administration: the links of /help, with a link added');
  await admin.locator('#nav a[data-view="links"]').click();
  await admin.locator('#links-list li').first().waitFor();
  const before = await admin.locator('#links-list li').count();
  await admin.locator('#link-add').click();
  await admin.locator(`#link-${before}-title`).fill('Школьная библиотека');
  await admin.locator(`#link-${before}-url`).fill('https://library.school.example/');
  await admin.locator('#links-form button[type=submit]').click();
  await admin.locator('#status', { hasText: `Ссылки сохранены: ${before + 1}.` }).waitFor();
  await audit(admin, 'admin-links');

  step('the administration: the audit log of all this');
  await admin.locator('#nav a[data-view="audit"]').click();
  await admin.locator('#audit-table tbody tr[data-action="help_links.put"]').waitFor();
  await audit(admin, 'admin-audit');

  step('the administration on a phone: the tables as cards');
  await admin.setViewportSize(phone);
  for (const [view, drawn] of [
    ['users', '#users-table tbody tr'], ['classes', '#subjects-table tbody tr'], ['record', '#record-table tbody tr'],
    ['summary', '.chart[data-chart="offline_answered"] canvas'], ['links', '#links-list li'], ['audit', '#audit-table tbody tr'],
  ]) {
    // What the desktop drew is marked, so that the wait is for the screen drawn anew.
    await admin.evaluate((selector) => {
      for (const e of document.querySelectorAll(selector)) e.dataset.stale = '';
    }, drawn);
    await admin.locator(`#nav a[data-view="${view}"]`).click();
    await admin.locator(`${drawn}:not([data-stale])`).first().waitFor();
    if (view === 'summary') await openChartNumbers();
    await audit(admin, `admin-${view}-phone`);
    if (view === 'users') {
      await importFile.setInputFiles({ name: 'journal.csv', mimeType: 'text/csv', buffer: journal('pupil') });
      await admin.getByRole('button', { name: 'Проверить' }).click();
      await admin.locator('#import-errors li[data-line="3"]').waitFor();
      await audit(admin, 'admin-import-preview-phone');
      await admin.getByRole('button', { name: 'Отмена' }).click();
    }
  }
  step('ok');
} finally {
  await browser.close();
  server.stop();
}
