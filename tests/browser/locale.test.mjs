// Dates, times and counts in the school's locale and time zone, in Chromium against the real
// server. The school is in Asia/Vladivostok (UTC+10); the browser runs in America/Los_Angeles
// with an American English locale, so a time drawn in the browser's zone or order would show.
// Checked: chat timestamps in the school's zone, 24-hour, with Russian weekday names; the
// teacher's hours with Russian weekdays and 24-hour fields; the deferred request's "next" time;
// the audit log and the record; date fields typed day.month.year; the English switch changing
// all of them; plural forms for 1, 2, 5 and 21.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';
import { call, token } from './admin-lib.mjs';

const ZONE = 'Asia/Vladivostok';
const BROWSER = { timezoneId: 'America/Los_Angeles', locale: 'en-US' };
const started = Date.now();
const server = await startServer({ KONSULT_SCHOOL_TIMEZONE: ZONE });
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const step = (what) => console.log(`locale: ${what}`);

/// What the school's clock says at `iso`, formatted here in Node with `options`.
const inSchool = (tag, iso, options) => new Intl.DateTimeFormat(tag, { ...options, timeZone: ZONE, hourCycle: 'h23' }).format(new Date(iso));
const HHMM = { hour: '2-digit', minute: '2-digit' };
const FULL = { weekday: 'short', day: '2-digit', month: '2-digit', year: 'numeric', ...HHMM };
const RU_WEEKDAYS = ['пн', 'вт', 'ср', 'чт', 'пт', 'сб', 'вс'];
const EN_WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

try {
  step('the server names the school\'s zone');
  const help = await (await fetch(`${server.url}/api/help`)).json();
  assert.equal(help.timezone, ZONE);

  // The teacher's hours on a weekday three days from the school's today, so that now is outside.
  const todayInSchool = RU_WEEKDAYS.indexOf(inSchool('ru-RU', Date.now(), { weekday: 'short' })) + 1;
  const weekday = ((todayInSchool + 2) % 7) + 1;
  const teacherToken = await token(server.url, 'teacher1');
  const hours = await call(server.url, 'PUT', '/api/hours', teacherToken, [
    { subject: 'math', weekday, start: '15:00', end: '16:30', mode: 'online' },
  ]);
  assert.equal(hours.status, 200, JSON.stringify(hours.body));

  step('the student sees the hours with Russian weekday names, and the deferred request\'s next time');
  const student = await loginAs(browser, server.url, 'student4', { contextOptions: BROWSER });
  const row = student.locator('.teacher', { hasText: 'Смирнова' }).first();
  await row.locator('.hours').waitFor();
  assert.match(await row.locator('.hours').textContent(), new RegExp(`${RU_WEEKDAYS[weekday - 1]} 15:00–16:30`));
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Вопрос вне часов');
  await student.selectOption('#ask-teacher', await row.getAttribute('data-user'));
  await student.click('#ask-submit');
  const notice = await (await student.waitForSelector('#student-notice:has-text("не консультирует")')).textContent();
  // The slot begins at 15:00 on the school's clock: in Los Angeles that is another hour.
  assert.match(notice, new RegExp(`\\(начало: ${RU_WEEKDAYS[weekday - 1]}, \\d{1,2} [а-я]+, 15:00\\)`), notice);

  step('a chat message carries the school\'s time, 24-hour, and its date with a Russian weekday');
  const panel = student.locator('.inbox .chat');
  await panel.locator('.chat-text').fill('Когда вы ответите?');
  await panel.locator('.chat-send').click();
  const stamp = panel.locator('.message.mine:not(.pending) time.ts').first();
  await stamp.waitFor();
  const sentAt = await stamp.getAttribute('datetime');
  assert.equal(await stamp.textContent(), inSchool('ru-RU', sentAt, HHMM));
  assert.match(await stamp.textContent(), /^\d{2}:\d{2}$/, 'no AM or PM');
  assert.notEqual(await stamp.textContent(), new Intl.DateTimeFormat('ru-RU', { ...HHMM, timeZone: BROWSER.timezoneId }).format(new Date(sentAt)),
    'not the browser\'s zone');
  const full = await stamp.getAttribute('title');
  assert.equal(full, inSchool('ru-RU', sentAt, FULL));
  assert.match(full, new RegExp(`^(${RU_WEEKDAYS.join('|')}), \\d{2}\\.\\d{2}\\.\\d{4}, \\d{2}:\\d{2}$`), full);
  await shot(student, 'locale-student-ru');

  step('English changes the names and the order, not the zone');
  await student.click('#lang');
  await student.waitForSelector('html[lang=en]');
  await row.locator('.hours').waitFor();
  assert.match(await row.locator('.hours').textContent(), new RegExp(`${EN_WEEKDAYS[weekday - 1]} 15:00–16:30`));
  await student.locator('.inbox button.thread').first().click();
  const stampEn = student.locator('.inbox .chat .message.mine time.ts').first();
  await stampEn.waitFor();
  assert.equal(await stampEn.textContent(), inSchool('en-GB', sentAt, HHMM));
  const fullEn = await stampEn.getAttribute('title');
  assert.equal(fullEn, inSchool('en-GB', sentAt, FULL));
  assert.match(fullEn, new RegExp(`^(${EN_WEEKDAYS.join('|')}), \\d{2}/\\d{2}/\\d{4}, \\d{2}:\\d{2}$`), fullEn);
  await shot(student, 'locale-student-en');

  step('the teacher\'s hours editor: Russian weekdays and 24-hour times in any browser');
  const teacher = await loginAs(browser, server.url, 'teacher1', { contextOptions: BROWSER });
  await teacher.waitForSelector('#slot-0-weekday');
  assert.equal(await teacher.locator(`#slot-0-weekday option[value="${weekday}"]`).textContent(),
    ['понедельник', 'вторник', 'среда', 'четверг', 'пятница', 'суббота', 'воскресенье'][weekday - 1]);
  assert.equal(await teacher.inputValue('#slot-0-start'), '15:00');
  await teacher.fill('#slot-0-end', '4:30 PM');
  assert.equal(await teacher.evaluate(() => document.querySelector('#slot-0-end').checkValidity()), false, 'a 12-hour time is refused');
  await teacher.fill('#slot-0-end', '16:45');
  assert.equal(await teacher.evaluate(() => document.querySelector('#slot-0-end').checkValidity()), true);

  step('plural forms through Intl.PluralRules: 1, 2, 5, 21');
  const plurals = () => teacher.evaluate(async () => {
    const { t } = await import('/i18n.js');
    return [1, 2, 5, 21].map((count) => [
      t('create.class_option', { class: '9A', count }), t('threads.unread', { n: count }), t('queue.eta', { count }),
    ]);
  });
  assert.deepEqual(await plurals(), [
    ['9A (1 ученик)', '1 непрочитанное сообщение', 'Ожидание около 1 минуты.'],
    ['9A (2 ученика)', '2 непрочитанных сообщения', 'Ожидание около 2 минут.'],
    ['9A (5 учеников)', '5 непрочитанных сообщений', 'Ожидание около 5 минут.'],
    ['9A (21 ученик)', '21 непрочитанное сообщение', 'Ожидание около 21 минуты.'],
  ]);
  // The demo school's 9A has 30 students: "30 учеников" in the form that starts a session.
  const classOption = teacher.locator('option', { hasText: /^9A \(/ }).first();
  assert.equal(await classOption.textContent(), '9A (30 учеников)');
  await teacher.click('#lang');
  await teacher.waitForSelector('html[lang=en]');
  assert.deepEqual(await plurals(), [
    ['9A (1 student)', '1 unread message', 'About 1 minute to wait.'],
    ['9A (2 students)', '2 unread messages', 'About 2 minutes to wait.'],
    ['9A (5 students)', '5 unread messages', 'About 5 minutes to wait.'],
    ['9A (21 students)', '21 unread messages', 'About 21 minutes to wait.'],
  ]);
  assert.equal(await teacher.locator('option', { hasText: /^9A \(/ }).first().textContent(), '9A (30 students)');
  assert.equal(await teacher.locator(`#slot-0-weekday option[value="${weekday}"]`).textContent(),
    ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'][weekday - 1]);

  step('the admin screens: the audit log and the record in the school\'s zone, dates typed day.month.year');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...BROWSER });
  const admin = await context.newPage();
  const adminErrors = [];
  admin.on('pageerror', (e) => adminErrors.push(String(e)));
  await admin.goto(`${server.url}/admin`);
  await admin.locator('#login-form').getByLabel('Логин').fill('admin');
  await admin.locator('#login-form').getByLabel('Пароль').fill('demo');
  await admin.getByRole('button', { name: 'Войти' }).click();
  await admin.getByRole('heading', { name: 'Пользователи', level: 1 }).waitFor();
  // Something to audit: a subject renamed.
  await call(server.url, 'PUT', '/api/admin/subjects/chemistry', await token(server.url, 'admin'), { name: 'Химия' });
  await admin.getByRole('link', { name: 'Журнал действий' }).click();
  const auditTime = admin.locator('#audit-table tbody tr[data-action] time').first();
  await auditTime.waitFor();
  const auditAt = await auditTime.getAttribute('datetime');
  assert.equal(await auditTime.textContent(), inSchool('ru-RU', auditAt, FULL));

  await admin.getByRole('link', { name: 'Журнал консультаций' }).click();
  const from = admin.locator('#rec-from');
  assert.equal(await from.getAttribute('placeholder'), 'дд.мм.гггг');
  await from.fill('31.02.2026');
  assert.equal(await from.evaluate((input) => input.checkValidity()), false, 'no 31 February');
  await from.fill('01.09.2026');
  const query = admin.waitForRequest((r) => r.url().includes('/api/consultations?'));
  await admin.getByRole('button', { name: 'Показать' }).click();
  assert.match((await query).url(), /[?&]from=2026-09-01(&|$)/);
  await admin.locator('#record-count').filter({ hasText: 'Консультаций' }).waitFor();
  await shot(admin, 'locale-admin-record-ru');

  await admin.click('#lang');
  await admin.waitForSelector('html[lang=en]');
  assert.equal(await from.getAttribute('placeholder'), 'dd/mm/yyyy');
  assert.equal(await from.inputValue(), '01/09/2026');
  await admin.getByRole('link', { name: 'Audit log' }).click();
  await admin.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  const auditTimeEn = admin.locator('#audit-table tbody tr[data-action] time').first();
  await admin.waitForFunction(() => /^[A-Z]/.test(document.querySelector('#audit-table tbody tr[data-action] time')?.textContent ?? ''));
  assert.equal(await auditTimeEn.textContent(), inSchool('en-GB', await auditTimeEn.getAttribute('datetime'), FULL));
  await shot(admin, 'locale-admin-audit-en');

  assert.deepEqual(adminErrors, []);
  assert.deepEqual(student.errors, []);
  assert.deepEqual(teacher.errors, []);
  console.log(`locale: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
