// A teacher sets weekly consultation hours in the web client: slots are added, one removed,
// saved, and kept after a reload; the student sees them beside the teacher's status, and a
// request naming the teacher outside them is deferred with the time they next start, in words,
// into a thread titled with the subject's name.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertLabelled } from './admin-lib.mjs';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
// Three days from today, so that now is outside the slot in any time zone.
const weekday = ((new Date().getDay() + 3) % 7) || 7;

try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  await teacher.waitForSelector('.hours-editor >> text=Часы не заданы');
  await teacher.click('.hours-add');
  await teacher.click('.hours-add');
  assert.equal(await teacher.locator('.slot').count(), 2);
  await teacher.selectOption('#slot-0-subject', 'math');
  await teacher.selectOption('#slot-0-weekday', String(weekday));
  await teacher.fill('#slot-0-start', '15:30');
  await teacher.fill('#slot-0-end', '17:00');
  await teacher.click('.slots li:nth-child(2) .slot-remove');
  assert.equal(await teacher.locator('.slot').count(), 1);
  await assertLabelled(teacher);
  await teacher.click('.hours-save');
  await teacher.waitForSelector('#hours-status:has-text("Часы сохранены")');
  await shot(teacher, 'teacher-hours');

  // A slot whose end is before its start is refused with the server's reason.
  await teacher.click('.hours-add');
  await teacher.fill('#slot-1-start', '12:00');
  await teacher.fill('#slot-1-end', '11:00');
  await teacher.click('.hours-save');
  await teacher.waitForSelector('#hours-error:has-text("slot")');
  await teacher.reload();
  await teacher.waitForSelector('.slot');
  assert.equal(await teacher.locator('.slot').count(), 1, 'the refused slot was not stored');
  assert.equal(await teacher.inputValue('#slot-0-start'), '15:30');

  const student = await loginAs(browser, server.url, 'student1', { viewport: { width: 390, height: 844 } });
  const row = student.locator('.teacher', { hasText: 'Смирнова' }).first();
  await row.locator('.hours').waitFor();
  assert.match(await row.locator('.hours').textContent(), /15:30–17:00/);

  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Вопрос вне часов консультаций');
  await student.selectOption('#ask-teacher', await row.getAttribute('data-user'));
  await student.click('#ask-submit');
  const notice = await student.waitForSelector('#student-notice:has-text("не консультирует")');
  const text = await notice.textContent();
  assert.match(text, /15:30/);
  assert.doesNotMatch(text, /T15:30|\+\d\d:\d\d/, 'the time is in words, not ISO 8601');
  // The request became a thread, titled with the subject's name (the demo school's).
  await student.waitForSelector('.thread-title:has-text("Математика: Вопрос вне часов консультаций")');
  await shot(student, 'student-outside-hours');

  // The browser logs the refused save's 400 itself; nothing else went wrong.
  assert.deepEqual(teacher.errors.filter((e) => !/status of 400/.test(e)), []);
  assert.deepEqual(student.errors, []);
  console.log(`hours: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
