// A teacher picks two students by name for a group session on a phone-sized screen: the class
// list and the name search come from the directory, the ticks are made with the keyboard and
// kept across searches, and Enter in the search box searches rather than submits. Both students
// get the invitation, join, and the three see each other in the roster. A classmate who was not
// picked gets no invitation.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const phone = { viewport: { width: 360, height: 740 } };

/// Ticks a student's box in the search results with the keyboard.
async function tick(page, name) {
  const box = page.getByRole('checkbox', { name: `${name} 9A`, exact: true });
  await box.focus();
  await page.keyboard.press('Space');
  assert.equal(await box.isChecked(), true, name);
}

/// The names in a page's roster, sorted.
async function roster(page) {
  return page.evaluate(() => [...document.querySelectorAll('.roster .member .name')]
    .map((n) => n.textContent.replace(/ \(.*\)$/, '')).sort());
}

try {
  const teacher = await loginAs(browser, server.url, 'teacher1', phone);
  const picked = [await loginAs(browser, server.url, 'student2', phone), await loginAs(browser, server.url, 'student3', phone)];
  const classmate = await loginAs(browser, server.url, 'student1', phone);

  await teacher.selectOption('#create-form', 'group');
  await teacher.selectOption('#create-subject', 'math');
  await teacher.fill('#create-title', 'Дроби');
  await teacher.waitForSelector('#create-found:has-text("Найдено учеников: 30.")');
  await teacher.selectOption('#create-class', '9A');
  assert.equal(await teacher.isChecked('#create-whole-class'), false, 'a group is not the whole class');

  await teacher.fill('#create-search', 'ученик 2');
  await teacher.waitForSelector('#create-found:has-text("Найдено учеников: 11.")');
  await tick(teacher, 'Ученик 2');
  await teacher.fill('#create-search', 'УЧЕНИК 3');
  // Enter in the search box searches; it does not start the session with one student.
  await teacher.press('#create-search', 'Enter');
  await teacher.waitForSelector('#create-found:has-text("Найдено учеников: 2.")');
  await tick(teacher, 'Ученик 3');
  await teacher.waitForSelector('.chosen-count:has-text("Выбрано: 2")');
  assert.equal(await teacher.locator('.session').count(), 0);
  const chips = await teacher.locator('.chips .chip').evaluateAll((b) => b.map((x) => x.getAttribute('aria-label')));
  assert.deepEqual(chips, ['Убрать Ученик 2', 'Убрать Ученик 3']);
  const sideways = await teacher.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(sideways <= 0, `the form scrolls sideways by ${sideways} px at 360 px`);
  await shot(teacher, 'group-pick');

  await teacher.click('#create-submit');
  await teacher.waitForSelector('.session');
  for (const student of picked) {
    await student.click('.invites button[data-session]');
    await student.waitForSelector('.session');
  }
  const everyone = ['Анна Петровна Смирнова', 'Ученик 2', 'Ученик 3'];
  for (const page of [teacher, ...picked]) {
    await page.waitForFunction(() => document.querySelectorAll('.roster .member').length === 3);
    assert.deepEqual(await roster(page), everyone);
  }
  await shot(picked[0], 'group-student');
  assert.equal(await classmate.locator('.invites button[data-session]').count(), 0, 'student1 was not picked');

  await teacher.click('.session .end');
  await Promise.all(picked.map((s) => s.waitForSelector('.home.student')));
  for (const page of [teacher, ...picked, classmate]) assert.deepEqual(page.errors, []);
  console.log(`group: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
