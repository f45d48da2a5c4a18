// A teacher who is not available when their consultation hours begin is reminded: the teacher
// saves a slot that begins at the next minute of the school's time zone, and when it begins
// the page says so (subject, day, times), and the teacher switches to available. (That an
// available teacher is not reminded is a hub unit test: it would cost this one another minute.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const ZONE = 'Europe/Moscow';
const server = await startServer({ KONSULT_SCHOOL_TIMEZONE: ZONE });
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

/// The school's local weekday (1 = Monday .. 7 = Sunday) and `HH:MM` at `ms`.
function schoolTime(ms) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday) + 1;
  return { weekday, time: `${parts.hour}:${parts.minute}` };
}

/// A slot beginning at the next whole minute that is at least 15 s away, ending before
/// midnight; waits out the last minutes of a day, where no such slot fits.
async function nextSlot() {
  for (;;) {
    const begins = Math.ceil((Date.now() + 15000) / 60000) * 60000;
    const start = schoolTime(begins);
    if (start.time < '23:50') {
      return { begins, weekday: start.weekday, start: start.time, end: schoolTime(begins + 5 * 60000).time };
    }
    await new Promise((r) => setTimeout(r, 60000));
  }
}

/// Saves one math slot on the teacher's hours editor.
async function saveSlot(page, slot) {
  if (await page.locator('.slot').count() === 0) await page.click('.hours-add');
  await page.selectOption('#slot-0-subject', 'math');
  await page.selectOption('#slot-0-weekday', String(slot.weekday));
  await page.fill('#slot-0-start', slot.start);
  await page.fill('#slot-0-end', slot.end);
  await page.click('.hours-save');
  await page.waitForSelector('#hours-status:has-text("Часы сохранены")');
}

try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  await teacher.waitForSelector('#availability[aria-checked=false]');
  const slot = await nextSlot();
  await saveSlot(teacher, slot);
  assert.equal(await teacher.textContent('.notice'), '', 'no reminder before the slot begins');

  const reminder = teacher.locator('.notice', { hasText: 'Начались ваши часы консультаций' });
  await reminder.waitFor({ timeout: slot.begins - Date.now() + 20000 });
  const text = await reminder.textContent();
  // The subject by the name the demo school gave it.
  assert.match(text, new RegExp(`Математика, \\S+ ${slot.start}–${slot.end}`));
  assert.ok(Date.now() >= slot.begins - 1000, 'not before the slot begins');
  console.log(`reminder: "${text}" ${((Date.now() - slot.begins) / 1000).toFixed(1)} s after ${slot.start}`);
  await shot(teacher, 'teacher-hours-reminder');
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');

  assert.deepEqual(teacher.errors, []);
  console.log(`reminder: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
