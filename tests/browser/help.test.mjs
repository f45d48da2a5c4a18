// The public /help page read as a parent would, on a phone, without signing in: the six forms,
// the teachers with their subjects and consultation hours, the school's useful links; then in
// English.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, startServer } from './lib.mjs';
import { assertFits, assertLabelled, call, token, watchErrors } from './admin-lib.mjs';

// The runner's KONSULT_BIN would reach the server as an unknown configuration key.
const server = await startServer({ KONSULT_BIN: undefined });
const browser = await launchBrowser();
const step = (what) => console.log(`help: ${what}`);

try {
  // A teacher publishes weekly hours first, as they would from their own screen.
  const teacher = await token(server.url, 'teacher1');
  const hours = await call(server.url, 'PUT', '/api/hours', teacher, [
    { subject: 'math', weekday: 2, start: '15:00', end: '16:30', mode: 'online' },
    { subject: 'physics', weekday: 4, start: '14:00', end: '15:00', mode: 'offline' },
  ]);
  assert.equal(hours.status, 200, JSON.stringify(hours.body));

  const phone = await browser.newContext({
    viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  });
  const page = await phone.newPage();
  const errors = watchErrors(page);

  step('a parent opens /help on a phone, in Russian');
  const response = await page.goto(`${server.url}/help`);
  assert.equal(response.status(), 200);
  assert.equal(await page.getAttribute('html', 'lang'), 'ru');
  await page.getByRole('heading', { name: 'Как получить помощь', level: 1 }).waitFor();
  await assertFits(page);
  await assertLabelled(page);
  await page.screenshot({ path: join(artifacts, 'help-phone-ru.png'), fullPage: true });

  step('the six forms: individual, group and frontal, each online and offline');
  const forms = page.getByRole('table').first();
  const headers = await forms.locator('thead th').allTextContents();
  assert.deepEqual(headers, ['Форма', 'Онлайн (видео)', 'Офлайн (переписка)']);
  const rows = await forms.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
  assert.deepEqual(rows.map((r) => r[0]), ['Индивидуальная', 'Групповая', 'Фронтальная']);
  for (const row of rows) {
    assert.equal(row.length, 3);
    assert.ok(row[1].length > 20 && row[2].length > 20, `each form says how to use it: ${row}`);
  }

  step('who helps: teachers by subject with their hours, the psychologist');
  const smirnova = page.locator('.person', { hasText: 'Анна Петровна Смирнова' });
  await smirnova.waitFor();
  const smirnovaText = await smirnova.textContent();
  assert.ok(smirnovaText.includes('Математика') && smirnovaText.includes('Физика'), smirnovaText);
  assert.ok(smirnovaText.includes('Вт 15:00–16:30'), `her hours: ${smirnovaText}`);
  assert.ok(smirnovaText.includes('Чт 14:00–15:00'), `her hours: ${smirnovaText}`);
  assert.ok(smirnovaText.includes('онлайн') && smirnovaText.includes('переписка'));
  const volkov = await page.locator('.person', { hasText: 'Игорь Николаевич Волков' }).textContent();
  assert.ok(volkov.includes('Часы консультаций не указаны'), 'a teacher without hours says so');
  assert.ok(await page.locator('.person', { hasText: 'Школьный психолог' }).count() >= 1);
  assert.ok(await page.locator('.person', { hasText: 'Елена Сергеевна Кузнецова' }).count() === 1);

  step('useful links and the regulation');
  const library = page.getByRole('link', { name: 'Российская электронная школа' });
  assert.equal(await library.getAttribute('href'), 'https://resh.edu.ru/');
  const regulation = page.getByRole('link', { name: 'Порядок оказания учебно-методической помощи обучающимся' });
  await regulation.tap();
  await page.waitForURL('**/help/regulation');
  assert.match(await page.textContent('body'), /ПОРЯДОК/);
  await page.goBack();

  step('the links an admin edits show up at once');
  const admin = await token(server.url, 'admin');
  const put = await call(server.url, 'PUT', '/api/admin/help-links', admin, [
    { title: 'Школьная библиотека', url: 'https://library.school.example/' },
  ]);
  assert.equal(put.status, 200);
  await page.reload();
  assert.equal(await page.getByRole('link', { name: 'Школьная библиотека' }).getAttribute('href'), 'https://library.school.example/');
  assert.equal(await page.getByRole('link', { name: 'Российская электронная школа' }).count(), 0);

  step('the parent switches to English');
  await page.getByRole('link', { name: 'English' }).tap();
  await page.getByRole('heading', { name: 'How to get help', level: 1 }).waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  const english = await page.textContent('body');
  for (const words of ['Individual', 'Group', 'Whole class', 'Online (video)', 'Tue 15:00–16:30', 'Useful links', 'School psychologist']) {
    assert.ok(english.includes(words), `the English page has ${words}`);
  }
  await assertFits(page);
  await page.screenshot({ path: join(artifacts, 'help-phone-en.png'), fullPage: true });
  await page.getByRole('link', { name: 'Русский' }).tap();
  await page.getByRole('heading', { name: 'Как получить помощь', level: 1 }).waitFor();

  // The server has no favicon yet; the browser asking for one is not the page's fault.
  const pageErrors = errors.filter((e) => !e.endsWith('/favicon.ico'));
  assert.deepEqual(pageErrors, [], 'no errors in the console');
  await phone.close();
  console.log('help: ok');
} catch (e) {
  console.error(server.log());
  throw e;
} finally {
  await browser.close();
  server.stop();
}
