// Booking a time in a teacher's consultation hours, in Chromium against the real binary. The
// teacher cuts Wednesday's 15:00-16:00 into 20-minute slots and closes 15:40; a student on a
// 360 px phone whose browser runs in another time zone books the next Wednesday's 15:20 (shown
// on the school's clock) and the teacher sees it in the day's bookings; a second student, whose
// list was drawn before, is told the slot is taken; the student's cancellation reaches the
// teacher's list without a reload, and the teacher's cancellation reaches the student with its
// reason; the student moves a booking. The private calendar feed, parsed by ical.js (RFC 5545),
// holds the booking at its time; a renewed link ends the old one and a revoked one is 404. A
// third student books with the keyboard alone, and axe finds nothing serious on the screens. And
// a slot booked two minutes ahead (slots of 5 minutes) invites the teacher and the student, at
// its time, into one session.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ICAL from 'ical.js';
import { assertFits, assertLabelled, call, token } from './admin-lib.mjs';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const step = (what) => console.log(`booking: ${what} (${((Date.now() - started) / 1000).toFixed(0)} s)`);

/// The school's clock at `ms` in `zone`: its day (`2026-12-09`), ISO weekday and `HH:MM`.
function clock(zone, ms) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday) + 1;
  return { day: `${parts.year}-${parts.month}-${parts.day}`, weekday, time: `${parts.hour}:${parts.minute}` };
}

/// The day `n` days after `day`.
const addDays = (day, n) => {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
};

// The slot two minutes ahead needs hours that end the same day on the school's clock: of two
// zones without daylight saving time seven hours apart, one is far from midnight.
const ZONE = ['Europe/Moscow', 'Asia/Vladivostok']
  .find((zone) => clock(zone, Date.now()).time < '23:00' && clock(zone, Date.now()).time > '00:30');
const server = await startServer({ KONSULT_SCHOOL_TIMEZONE: ZONE });
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `booking-${name}.png`), fullPage: true });
const phone = { viewport: { width: 360, height: 740 }, contextOptions: { timezoneId: 'America/Los_Angeles' } };
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/// The serious and critical WCAG 2.1 AA violations axe finds on the page as it is now.
async function audit(page, name) {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  assert.deepEqual(violations, [], `${name}: no serious or critical violations`);
}

/// Presses Tab until the focused element matches `selector`; fails after `limit` presses.
async function tabTo(page, selector, limit = 80) {
  for (let i = 0; i < limit; i += 1) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${selector}`);
}

/// Opens the week of `name`'s slots from the student's list of teachers, `weeks` weeks ahead.
async function openPicker(page, name, weeks = 0) {
  await page.locator('.teacher', { hasText: name }).locator('.book-open').click();
  await page.locator('.booking-picker .booking-slot, .booking-picker .slot-week p.hint').first().waitFor();
  for (let i = 0; i < weeks; i += 1) {
    const label = await page.locator('#book-week').textContent();
    await page.click('#book-next');
    await page.waitForFunction((before) => document.querySelector('#book-week')?.textContent !== before, label);
  }
}

/// Books the slot beginning at `start` (`2026-12-09T15:20`) with `topic` from an open picker.
async function book(page, start, topic) {
  await page.locator(`.booking-picker .booking-slot[data-start^="${start}"] .slot-choose`).click();
  await page.fill('#book-topic', topic);
  await page.click('#book-submit');
}

try {
  // The second part's slot first: its time is two minutes away and the first part runs meanwhile.
  step('a math teacher\'s hours begin at the next whole minute + 2, slots of 5 minutes');
  const soonMs = Math.ceil(Date.now() / 60000) * 60000 + 2 * 60000;
  const soon = clock(ZONE, soonMs);
  const soonEnd = clock(ZONE, soonMs + 30 * 60000);
  assert.equal(soonEnd.day, soon.day, 'the hours end on their own day');
  const teacher2Token = await token(server.url, 'teacher2');
  const hours2 = await call(server.url, 'PUT', '/api/hours', teacher2Token,
    [{ subject: 'math', weekday: soon.weekday, start: soon.time, end: soonEnd.time, mode: 'online' }]);
  assert.equal(hours2.status, 200, JSON.stringify(hours2.body));
  const teacher2 = await loginAs(browser, server.url, 'teacher2');
  await teacher2.locator('#rules-minutes').fill('5');
  await teacher2.click('#rules-save');
  await teacher2.locator('#rules-status', { hasText: '5 мин' }).waitFor();
  const soonStart = `${soon.day}T${soon.time}`;
  await teacher2.locator(`.booking-rules .booking-slot[data-start^="${soonStart}"]`).waitFor();

  step('a student books that first slot');
  const student3 = await loginAs(browser, server.url, 'student3');
  await openPicker(student3, 'Волков');
  await book(student3, soonStart, 'Логарифмы: задача 5');
  await student3.locator(`.my-bookings .booking[data-start^="${soonStart}"]`).waitFor();
  assert.ok(Date.now() < soonMs, 'booked before the slot began');

  step('the physics teacher\'s Wednesday hours, slots of 20 minutes, 15:40 closed');
  const today = clock(ZONE, Date.now());
  const ahead = ((3 - today.weekday + 7) % 7) || 7;
  const wed = addDays(today.day, ahead);
  const weeks = ahead >= 7 ? 1 : 0;
  const teacher1Token = await token(server.url, 'teacher1');
  const hours1 = await call(server.url, 'PUT', '/api/hours', teacher1Token,
    [{ subject: 'physics', weekday: 3, start: '15:00', end: '16:00', mode: 'online' }]);
  assert.equal(hours1.status, 200, JSON.stringify(hours1.body));
  const teacher = await loginAs(browser, server.url, 'teacher1');
  await teacher.locator('#rules-minutes').fill('20');
  await teacher.click('#rules-save');
  await teacher.locator('#rules-status', { hasText: '20 мин' }).waitFor();
  if (weeks) await teacher.click('#rules-next');
  const closed = teacher.locator(`.booking-rules .booking-slot[data-start^="${wed}T15:40"]`);
  await closed.locator('.slot-block').click();
  await closed.locator('.slot-block[data-blocked=true]').waitFor();
  assert.equal(await teacher.locator(`.booking-rules .booking-slot[data-start^="${wed}T15:20"] .slot-block`).getAttribute('data-blocked'), 'false');
  await assertLabelled(teacher);

  step('a second student opens the same week before anyone books');
  const student2 = await loginAs(browser, server.url, 'student2');
  await openPicker(student2, 'Смирнова', weeks);
  await student2.locator(`.booking-slot[data-start^="${wed}T15:20"][data-state=free]`).waitFor();

  step('the first student, on a phone in another time zone, books Wednesday 15:20');
  const student = await loginAs(browser, server.url, 'student1', phone);
  await openPicker(student, 'Смирнова', weeks);
  const slot = student.locator(`.booking-picker .booking-slot[data-start^="${wed}T15:20"]`);
  await slot.waitFor();
  assert.match(await slot.textContent(), /15:20–15:40/, 'the slot is on the school\'s clock');
  assert.equal(await student.locator(`.booking-slot[data-start^="${wed}T15:40"]`).getAttribute('data-state'), 'blocked');
  assert.equal(await student.locator(`.booking-slot[data-start^="${wed}T15:40"] button`).count(), 0, 'a closed slot cannot be chosen');
  await slot.locator('.slot-choose').click();
  await student.fill('#book-topic', 'Задача 14 из контрольной');
  await assertFits(student);
  await assertLabelled(student);
  await shot(student, 'student-choose');
  await student.click('#book-submit');
  const mine = student.locator(`.my-bookings .booking[data-start^="${wed}T15:20"]`);
  await mine.waitFor();
  await student.locator('#bookings-notice', { hasText: 'Вы записаны' }).waitFor();
  await slot.and(student.locator('[data-state=mine]')).waitFor();
  assert.match(await mine.textContent(), /15:20–15:40/);
  await assertFits(student);
  await shot(student, 'student-booked');

  step('the teacher sees it in Wednesday\'s bookings');
  await teacher.locator('#day-bookings-notice', { hasText: 'Новая запись: Ученик 1' }).waitFor();
  for (let i = 0; i < ahead; i += 1) await teacher.click('#day-next');
  await teacher.locator('#day-bookings-heading', { hasText: 'Записи на ср,' }).waitFor();
  const held = teacher.locator(`.day-bookings .booking[data-start^="${wed}T15:20"][data-status=booked]`);
  await held.waitFor();
  assert.match(await held.textContent(), /Ученик 1.*Задача 14 из контрольной/s);
  await shot(teacher, 'teacher-bookings');

  step('the second student\'s stale list: the same individual slot is taken');
  await book(student2, `${wed}T15:20`, 'Тоже задача 14');
  await student2.locator('#book-error', { hasText: 'уже занято' }).waitFor();
  await student2.locator(`.booking-slot[data-start^="${wed}T15:20"][data-state=full]`).waitFor();
  assert.equal(await student2.locator('.my-bookings .booking').count(), 0);

  step('the student cancels; the teacher\'s list changes without a reload');
  await teacher.evaluate(() => { window.notReloaded = true; });
  await mine.locator('.booking-cancel').click();
  await student.locator('#bookings-notice', { hasText: 'Запись отменена' }).waitFor();
  await teacher.waitForFunction((start) => !document.querySelector(`.day-bookings .booking[data-status=booked][data-start^="${start}"]`), `${wed}T15:20`);
  await teacher.locator('#day-bookings-notice', { hasText: 'Ученик 1 отменил(а) запись' }).waitFor();
  assert.equal(await teacher.evaluate(() => window.notReloaded), true, 'the teacher\'s page was not reloaded');

  step('the student books again; the teacher cancels with a reason the student is told');
  await slot.and(student.locator('[data-state=free]')).waitFor();
  await book(student, `${wed}T15:20`, 'Задача 14 из контрольной');
  await mine.waitFor();
  await held.locator('.booking-cancel').click();
  const reason = 'Педсовет, перенесите, пожалуйста, на четверг';
  await teacher.locator('.day-bookings .booking-form textarea').fill(reason);
  await assertLabelled(teacher);
  await teacher.click('.day-bookings .cancel-confirm');
  await student.locator('#bookings-notice', { hasText: reason }).waitFor();
  assert.match(await student.locator('#bookings-notice').textContent(), /Смирнова отменил\(а\) вашу запись/);
  await mine.waitFor({ state: 'detached' });
  await shot(student, 'student-cancelled-by-teacher');

  step('booked a third time; the calendar feeds of both hold it');
  await slot.and(student.locator('[data-state=free]')).waitFor();
  await book(student, `${wed}T15:20`, 'Задача 14 из контрольной');
  await mine.waitFor();
  const bookedStart = await mine.getAttribute('data-start');
  /// Makes (or renews) the page's calendar link and returns its full address.
  const calendarLink = async (page) => {
    const before = await page.locator('#calendar-url').count() ? await page.locator('#calendar-url').inputValue() : null;
    await page.click('#calendar-renew');
    await page.waitForFunction((old) => {
      const input = document.querySelector('#calendar-url');
      return input && input.value !== old;
    }, before);
    return page.locator('#calendar-url').inputValue();
  };
  /// The VEVENTs of a feed, parsed by ical.js.
  const events = async (url) => {
    const res = await fetch(url);
    assert.equal(res.status, 200, `${url} answers`);
    assert.match(res.headers.get('content-type'), /^text\/calendar/);
    const calendar = new ICAL.Component(ICAL.parse(await res.text()));
    assert.equal(calendar.name, 'vcalendar');
    return calendar.getAllSubcomponents('vevent');
  };
  const atBooking = (list) => list.filter((e) => e.getFirstPropertyValue('dtstart').toJSDate().getTime() === Date.parse(bookedStart));
  const studentFeed = await calendarLink(student);
  assert.match(studentFeed, new RegExp(`^${server.url}/cal/[^/]+\\.ics$`));
  const studentEvents = await events(studentFeed);
  assert.equal(atBooking(studentEvents).length, 1, `the student's feed holds the booking at ${bookedStart}`);
  const event = atBooking(studentEvents)[0];
  assert.equal(event.getFirstPropertyValue('dtend').toJSDate().getTime(), Date.parse(bookedStart) + 20 * 60000);
  const teacherFeed = await calendarLink(teacher);
  assert.ok(atBooking(await events(teacherFeed)).length >= 1, 'the teacher\'s feed holds the booking');
  await assertLabelled(student);
  await shot(student, 'student-calendar');

  step('a renewed link ends the old one; a revoked one is 404');
  const renewed = await calendarLink(student);
  assert.notEqual(renewed, studentFeed);
  assert.equal((await fetch(studentFeed)).status, 404, 'the old address stopped working');
  assert.equal(atBooking(await events(renewed)).length, 1);
  await student.click('#calendar-revoke');
  await student.locator('#calendar-status', { hasText: 'Ссылка отключена' }).waitFor();
  assert.equal(await student.locator('#calendar-url').count(), 0);
  assert.equal((await fetch(renewed)).status, 404, 'the revoked address is 404');

  step('the student moves the booking to 15:00; the teacher hears of it');
  await mine.locator('.booking-move').click();
  await student.locator('#picker-heading', { hasText: 'Перенос записи' }).waitFor();
  await student.locator(`.booking-picker .booking-slot[data-start^="${wed}T15:00"] .slot-choose`).click();
  await student.click('#move-submit');
  await student.locator(`.my-bookings .booking[data-start^="${wed}T15:00"]`).waitFor();
  await mine.waitFor({ state: 'detached' });
  await teacher.locator(`.day-bookings .booking[data-start^="${wed}T15:00"][data-status=booked]`).waitFor();
  await teacher.locator('#day-bookings-notice', { hasText: 'перенёс(ла) запись' }).waitFor();
  await teacher.locator(`.booking-rules .booking-slot[data-start^="${wed}T15:00"]`, { hasText: 'занято' }).waitFor();
  await audit(teacher, 'the teacher\'s bookings, rules and calendar');

  step('another student books with the keyboard alone, on a phone');
  const student4 = await loginAs(browser, server.url, 'student4', phone);
  await student4.locator('.teacher', { hasText: 'Смирнова' }).locator('.book-open').waitFor();
  await tabTo(student4, '.teacher[data-user] .book-open');
  assert.match(await student4.evaluate(() => document.activeElement.getAttribute('aria-label')), /Смирнова/);
  await student4.keyboard.press('Enter');
  await student4.waitForFunction(() => document.activeElement?.id === 'picker-heading');
  if (weeks) {
    await tabTo(student4, '#book-next');
    await student4.keyboard.press('Enter');
  }
  const free = `.booking-slot[data-start^="${wed}T15:20"] .slot-choose`;
  await student4.locator(free).waitFor();
  await tabTo(student4, free);
  await student4.keyboard.press('Enter');
  await student4.waitForFunction(() => document.activeElement?.id === 'book-topic');
  await student4.keyboard.type('Закон Ома для участка цепи');
  await audit(student4, 'the student\'s week of slots with the form open, on a phone');
  await tabTo(student4, '#book-submit');
  await student4.keyboard.press('Enter');
  await student4.locator(`.my-bookings .booking[data-start^="${wed}T15:20"]`).waitFor();
  await student4.locator(`.booking-picker .booking-slot[data-start^="${wed}T15:20"][data-state=mine]`).waitFor();
  await assertFits(student4);

  step(`at ${soon.time} the math teacher and the student are invited into one session`);
  const deadline = Math.max(10000, soonMs - Date.now() + 90000);
  const invited = (page) => page.locator('.invites button[data-session]').first().waitFor({ timeout: deadline });
  await Promise.all([invited(teacher2), invited(student3)]);
  assert.ok(Date.now() >= soonMs - 1000, 'the invitations came at the slot\'s time');
  const sessionOf = async (page) => {
    await page.locator('.invites button[data-session]').first().click();
    await page.locator('.session[data-session]').waitFor();
    return page.locator('.session').getAttribute('data-session');
  };
  const [teacherSession, studentSession] = await Promise.all([sessionOf(teacher2), sessionOf(student3)]);
  assert.equal(teacherSession, studentSession, 'both are in the same session');
  await shot(teacher2, 'teacher-session');
  await shot(student3, 'student-session');

  // No page logged an error (a refused booking is an answer, not an error).
  for (const page of [teacher, teacher2, student, student2, student3, student4]) assert.deepEqual(page.errors, []);
  console.log(`booking: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
