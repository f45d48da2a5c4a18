// Importing the journal's CSV of 1,500 students on the admin screen, in headless Chromium
// against the real binary: the preview, then the import with its progress bar moving while the
// server hashes the passwords, then the summary (created, blank lines skipped, no errors), the
// accounts really there and one of them signing in; a second file whose lines clash ends with
// a summary naming each bad line and writes nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, startServer } from './lib.mjs';
import { call, login, token, watchErrors } from './admin-lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
/// The viewport with `selector` in it: the page itself is 1,500 password rows long.
const shot = async (page, name, selector) => {
  await page.locator(selector).evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(artifacts, `import-${name}.png`) });
};
const step = (what) => console.log(`import-progress: ${what}`);

const COUNT = 1500;
/// The journal's export: `COUNT` students of five classes, with one blank line inside.
function journal() {
  const lines = ['login;name;role;class'];
  for (let n = 1; n <= COUNT; n += 1) {
    lines.push(`p${n};Ученик Номер ${n};student;${5 + (n % 5)}П`);
    if (n === 700) lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/// The bar's value and maximum now.
const bar = (page) => page.evaluate(() => {
  const el = document.querySelector('#import-bar');
  return el && !el.closest('[hidden]') ? { value: el.value, max: el.max } : null;
});

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);

  step('the admin signs in and checks the file');
  await page.goto(`${server.url}/admin`);
  const signInForm = page.locator('#login-form');
  await signInForm.getByLabel('Логин').fill('admin');
  await signInForm.getByLabel('Пароль').fill('demo');
  await page.getByRole('button', { name: 'Войти' }).click();
  await page.getByRole('heading', { name: 'Пользователи', level: 1 }).waitFor();
  await page.getByText('Импорт из электронного журнала (CSV)').click();
  const fileInput = page.locator('#import-form').getByLabel('Файл CSV');
  await fileInput.setInputFiles({ name: 'journal.csv', mimeType: 'text/csv', buffer: Buffer.from(journal()) });
  await page.getByRole('button', { name: 'Проверить' }).click();
  await page.locator('#import-summary', { hasText: `Ошибок нет. Будет создано: ${COUNT}.` }).waitFor({ timeout: 60000 });

  step('the import: the bar moves while the accounts are made ready');
  const importStarted = Date.now();
  await page.getByRole('button', { name: 'Импортировать' }).click();
  const progressbar = page.getByRole('progressbar', { name: 'Идёт импорт: готовим учётные записи' });
  await progressbar.waitFor();
  await page.waitForFunction((total) => {
    const el = document.querySelector('#import-bar');
    return el && el.max === total && el.value > 0 && el.value < total;
  }, COUNT, { polling: 100, timeout: 120000 });
  const first = await bar(page);
  await page.waitForFunction((seen) => {
    const el = document.querySelector('#import-bar');
    return el && !el.closest('[hidden]') && el.value > seen;
  }, first.value, { polling: 100, timeout: 120000 });
  const second = await bar(page);
  assert.ok(second.value > first.value, `the bar moved: ${first.value} → ${second.value}`);
  // Read at one moment: the figures move on meanwhile.
  const said = await page.evaluate(() => ({
    count: document.querySelector('#import-count').textContent,
    valuetext: document.querySelector('#import-bar').getAttribute('aria-valuetext'),
  }));
  assert.match(said.count, new RegExp(`^\\d+ из ${COUNT}$`));
  assert.equal(said.valuetext, said.count, 'a screen reader hears the same figure');
  // The picture a little further on, once a fifth is ready.
  await page.waitForFunction((total) => document.querySelector('#import-bar')?.value >= total / 5, COUNT, { polling: 100, timeout: 120000 });
  await shot(page, 'progress', '#import');

  step('the summary: created, skipped, no errors; the passwords once');
  await page.waitForFunction((total) => document.querySelector('#import-bar')?.value === total, COUNT, { polling: 100, timeout: 240000 });
  const hashed = Date.now();
  await page.locator('#import-done-text', { hasText: `Импортировано: ${COUNT}.` }).waitFor({ timeout: 240000 });
  console.log(`import-progress: ${COUNT} students ready in ${((hashed - importStarted) / 1000).toFixed(1)} s, `
    + `written and announced in ${((Date.now() - hashed) / 1000).toFixed(1)} s more`);
  assert.ok(await page.locator('#import-progress').isHidden(), 'the bar is gone');
  const result = page.locator('#import-result');
  assert.equal(await result.locator('[data-figure=created]').textContent(), `Создано учётных записей: ${COUNT}`);
  assert.equal(await result.locator('[data-figure=skipped]').textContent(), 'Пропущено пустых строк: 1');
  assert.equal(await result.locator('[data-figure=errors]').textContent(), 'Строк с ошибками: 0');
  assert.equal(await page.locator('#import-passwords tbody tr').count(), COUNT);
  await shot(page, 'summary', '#import');

  step('the accounts are really there and sign in');
  const admin = await token(server.url, 'admin');
  for (let c = 5; c <= 9; c += 1) {
    const listed = await call(server.url, 'GET', `/api/admin/users?class=${encodeURIComponent(`${c}П`)}`, admin);
    assert.equal(listed.body.users.length, COUNT / 5, `class ${c}П`);
  }
  const row = page.locator('#import-passwords tbody tr', { hasText: 'p1234' }).first();
  assert.equal(await row.locator('td').first().textContent(), 'p1234');
  const password = await row.locator('td').nth(1).textContent();
  assert.equal((await login(server.url, 'p1234', password)).status, 200, 'the shown password works');
  await page.getByRole('button', { name: 'Готово' }).click();

  step('a file whose lines clash: the summary names each line, nothing written');
  // The check passes; meanwhile another admin imports one of its logins.
  const clash = 'login;name;role;class\nq1;Первый;student;5Q\nq2;Второй;student;5Q\nq3;Третий;student;5Q\n';
  await fileInput.setInputFiles({ name: 'late.csv', mimeType: 'text/csv', buffer: Buffer.from(clash) });
  await page.getByRole('button', { name: 'Проверить' }).click();
  await page.locator('#import-summary', { hasText: 'Будет создано: 3.' }).waitFor();
  const other = await fetch(`${server.url}/api/admin/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ login: 'q2', name: 'Успел раньше', role: 'student', class: '5Q' }),
  });
  assert.equal(other.status, 200);
  await page.getByRole('button', { name: 'Импортировать' }).click();
  await page.locator('#import-done-text', { hasText: 'Ничего не импортировано: исправьте строки с ошибками' }).waitFor();
  assert.equal(await result.locator('[data-figure=created]').textContent(), 'Создано учётных записей: 0');
  const lineError = result.locator('li[data-line="3"]');
  assert.match(await lineError.textContent(), /^Строка 3: .*q2.*already exists/);
  assert.equal(await result.locator('li[data-line]').count(), 1);
  assert.ok(await page.locator('#import-passwords').isHidden());
  assert.ok(await page.getByText('Пароли показаны один раз').isHidden(), 'no passwords to keep');
  const q = await call(server.url, 'GET', '/api/admin/users?class=5Q', admin);
  assert.deepEqual(q.body.users.map((u) => u.login), ['q2'], 'all or nothing');
  await shot(page, 'refused', '#import');

  assert.deepEqual(errors, []);
  console.log(`import-progress: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
