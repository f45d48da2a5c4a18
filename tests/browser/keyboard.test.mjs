// Keyboard only, in headless Chromium against the real binary: a teacher switches to available
// and a student asks for help with Tab, arrow keys, typing and Enter alone; the teacher reaches
// the offer with Tab and accepts it with Enter, and both are in the session.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const server = await startServer();
const browser = await launchBrowser();
const step = (what) => console.log(`keyboard: ${what}`);

/// Presses Tab until the focused element matches `selector`; fails after `limit` presses.
async function tabTo(page, selector, limit = 60) {
  for (let i = 0; i < limit; i += 1) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${selector}`);
}

/// Moves a focused `<select>` with the arrow keys until it shows `value`.
async function arrowTo(page, value, limit = 30) {
  for (let i = 0; i < limit; i += 1) {
    if (await page.evaluate(() => document.activeElement.value) === value) return;
    await page.keyboard.press('ArrowDown');
  }
  assert.fail(`the arrows never reached ${value}`);
}

try {
  step('the teacher becomes available with the keyboard');
  const teacher = await loginAs(browser, server.url, 'teacher1');
  await tabTo(teacher, '#availability');
  await teacher.keyboard.press('Space');
  await teacher.waitForSelector('#availability[aria-checked=true]');

  step('the student asks for help with the keyboard');
  const student = await loginAs(browser, server.url, 'student1', { viewport: { width: 390, height: 844 } });
  await student.locator('.teacher', { hasText: 'Смирнова' }).first().locator('.status-available').waitFor();
  await tabTo(student, '#ask-subject');
  await arrowTo(student, 'math');
  await tabTo(student, '#ask-topic');
  await student.keyboard.type('Квадратные уравнения');
  await tabTo(student, '#ask-submit');
  await student.keyboard.press('Enter');
  await student.waitForSelector('#queue-position');

  step('the teacher accepts the offer with the keyboard');
  await teacher.waitForSelector('.offer');
  await tabTo(teacher, '.offer .offer-accept');
  await teacher.keyboard.press('Enter');
  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);
  await teacher.screenshot({ path: join(artifacts, 'keyboard-session-teacher.png'), fullPage: true });
  await student.screenshot({ path: join(artifacts, 'keyboard-session-student.png'), fullPage: true });
  assert.deepEqual([...teacher.errors, ...student.errors], [], 'no errors in the pages');
  step('ok');
} finally {
  await browser.close();
  server.stop();
}
