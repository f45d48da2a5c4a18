// The administration screens tried as a school administrator would, in headless Chromium
// against the real binary: sign in (others are turned away politely), find a user, import a
// journal CSV with a bad line (errors by line, nothing written), fix it and import it, reset a
// password and sign in with it, deactivate a user, edit a /help link, filter the record after a
// consultation took place, export it as CSV, read the summary, and see it all in the audit log;
// then in English, and on a phone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, launchBrowser, startServer } from './lib.mjs';
import {
  assertFits, assertLabelled, call, holdConsultation, login, token, watchErrors, windows1251,
} from './admin-lib.mjs';

const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `admin-${name}.png`), fullPage: true });
const step = (what) => console.log(`admin: ${what}`);

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = watchErrors(page);

  step('sign-in page in Russian; a teacher is turned away politely');
  const response = await page.goto(`${server.url}/admin`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
  assert.equal(await page.getAttribute('html', 'lang'), 'ru');
  await page.getByRole('heading', { name: 'Вход для администрации' }).waitFor();
  await assertLabelled(page);
  const signInForm = page.locator('#login-form');
  await signInForm.getByLabel('Логин').fill('teacher1');
  await signInForm.getByLabel('Пароль').fill('demo');
  await page.getByRole('button', { name: 'Войти' }).click();
  await page.getByRole('alert').filter({ hasText: 'для администрации школы' }).waitFor();
  assert.ok(await page.locator('#nav').isHidden(), 'a teacher sees no admin screens');
  await shot(page, 'not-admin');

  step('the admin signs in and searches a user');
  await signInForm.getByLabel('Логин').fill('admin');
  await signInForm.getByLabel('Пароль').fill('demo');
  await page.getByRole('button', { name: 'Войти' }).click();
  await page.getByRole('heading', { name: 'Пользователи', level: 1 }).waitFor();
  const search = page.locator('#users-search').getByLabel('Поиск по логину или имени');
  await page.locator('#users-table tbody tr[data-login="student30"]').waitFor();
  assert.equal(await page.locator('#users-table tr[data-login="admin"] button').count(), 1, 'no deactivating oneself');
  await search.fill('student7');
  await page.getByRole('button', { name: 'Найти' }).click();
  await page.locator('#users-count', { hasText: 'Найдено: 1' }).waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 1);
  await assertLabelled(page);
  await shot(page, 'users');

  step('a teacher is added; the generated password is shown once and works');
  await page.getByText('Добавить пользователя').click();
  const addForm = page.locator('#add-user-form');
  await addForm.getByLabel('Логин').fill('orlova');
  await addForm.getByLabel('Фамилия, имя, отчество').fill('Наталья Сергеевна Орлова');
  await addForm.getByLabel('Роль', { exact: true }).selectOption('teacher');
  await addForm.getByLabel('Предметы').fill('math physics');
  await assertLabelled(page);
  await addForm.getByRole('button', { name: 'Создать' }).click();
  await page.getByRole('dialog').getByRole('heading', { name: 'Новый пароль' }).waitFor();
  const generated = (await page.locator('#secret-value').textContent()).trim();
  assert.ok(generated.length >= 8);
  await page.getByRole('dialog').getByRole('button', { name: 'Готово' }).click();
  assert.equal((await login(server.url, 'orlova', generated)).status, 200);
  await addForm.getByLabel('Логин').fill('orlova');
  await addForm.getByLabel('Фамилия, имя, отчество').fill('Другая');
  await addForm.getByLabel('Роль', { exact: true }).selectOption('teacher');
  await addForm.getByRole('button', { name: 'Создать' }).click();
  await page.locator('#add-user-error', { hasText: 'already exists' }).waitFor();
  await page.getByText('Добавить пользователя').click();

  step('a journal CSV with a bad line: the error by line, nothing written');
  await page.getByText('Импорт из электронного журнала (CSV)').click();
  const bad = 'login;name;role;class\nivanova;Мария Иванова;student;10Б\npetrov;Пётр Петров;pupil;10Б\n';
  await page.locator('#import-form').getByLabel('Файл CSV').setInputFiles({ name: 'journal.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
  await page.getByRole('button', { name: 'Проверить' }).click();
  const lineError = page.locator('#import-errors li[data-line="3"]');
  await lineError.waitFor();
  assert.match(await lineError.textContent(), /^Строка 3: .*pupil/);
  assert.equal(await page.locator('#import-errors li').count(), 1);
  assert.ok(await page.getByRole('button', { name: 'Импортировать' }).isDisabled());
  assert.equal(await page.locator('#import-rows tbody tr').count(), 1, 'the good line is previewed');
  await shot(page, 'import-errors');
  const admin = await token(server.url, 'admin');
  const none = await call(server.url, 'GET', '/api/admin/users?q=ivanova', admin);
  assert.deepEqual(none.body.users, [], 'a preview writes nothing');

  step('the fixed file, as Windows-1251 the way older journals export it, is imported');
  const good = 'login;name;role;class\nivanova;Мария Иванова;student;10Б\npetrov;Пётр Петров;student;10Б\n';
  await page.locator('#import-form').getByLabel('Файл CSV').setInputFiles({ name: 'journal.csv', mimeType: 'text/csv', buffer: windows1251(good) });
  await page.getByRole('button', { name: 'Проверить' }).click();
  await page.locator('#import-summary', { hasText: 'Ошибок нет. Будет создано: 2.' }).waitFor();
  assert.match(await page.locator('#import-summary').textContent(), /Windows-1251/);
  assert.equal(await page.locator('#import-rows tbody tr').nth(1).locator('td').nth(2).textContent(), 'Пётр Петров');
  await page.getByRole('button', { name: 'Импортировать' }).click();
  await page.locator('#import-done-text', { hasText: 'Импортировано: 2.' }).waitFor();
  const ivanovaPassword = await page.locator('#import-passwords tbody tr', { hasText: 'ivanova' }).locator('td').nth(1).textContent();
  assert.equal((await login(server.url, 'ivanova', ivanovaPassword)).status, 200, 'the shown password works');
  const passwordsDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Скачать пароли (CSV)' }).click();
  const passwordsFile = readFileSync(await (await passwordsDownload).path(), 'utf8');
  assert.match(passwordsFile, /^login,password\r\n/);
  assert.ok(passwordsFile.includes(`ivanova,${ivanovaPassword}`));
  await shot(page, 'import-done');
  await page.getByRole('button', { name: 'Готово' }).click();
  const imported = await call(server.url, 'GET', '/api/admin/users?class=10%D0%91', admin);
  assert.deepEqual(imported.body.users.map((u) => u.name).sort(), ['Мария Иванова', 'Пётр Петров']);

  step('a password is reset, shown once, and works');
  await search.fill('student7');
  await page.getByRole('button', { name: 'Найти' }).click();
  await page.getByRole('button', { name: 'Сбросить пароль пользователя student7' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Да' }).click();
  const secret = page.locator('#secret-value');
  await secret.waitFor();
  const newPassword = (await secret.textContent()).trim();
  assert.ok(newPassword.length >= 8, `a real password: ${newPassword}`);
  await shot(page, 'password');
  await page.getByRole('dialog').getByRole('button', { name: 'Готово' }).click();
  // The password is not left on the page once the dialog is closed.
  await page.waitForFunction(() => document.querySelector('#secret-value').textContent === '');
  assert.equal((await login(server.url, 'student7', newPassword)).status, 200);
  assert.equal((await login(server.url, 'student7', 'demo')).status, 401, 'the old password no longer works');

  step('a user is deactivated and can no longer sign in');
  await search.fill('student8');
  await page.getByRole('button', { name: 'Найти' }).click();
  await page.getByRole('button', { name: 'Отключить student8' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Отмена' }).click();
  assert.equal((await login(server.url, 'student8', 'demo')).status, 200, 'cancelled: nothing happened');
  await page.getByRole('button', { name: 'Отключить student8' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Да' }).click();
  await page.locator('#users-table tr[data-login="student8"].inactive').waitFor();
  assert.equal((await login(server.url, 'student8', 'demo')).status, 401);
  await page.getByRole('button', { name: 'Включить student8' }).waitFor();

  step('a subject is added in classes and subjects');
  await page.getByRole('link', { name: 'Классы и предметы' }).click();
  await page.locator('#classes-table tbody th', { hasText: '10Б' }).waitFor();
  assert.equal(await page.locator('#classes-table tbody tr', { hasText: '9A' }).locator('td').first().textContent(), '29', 'active students');
  const subjectForm = page.locator('#subject-form');
  await subjectForm.getByLabel('Код').fill('chemistry');
  await subjectForm.getByLabel('Название').fill('Химия');
  await page.getByRole('button', { name: 'Добавить или переименовать' }).click();
  await page.locator('#subjects-table tr[data-code="chemistry"]', { hasText: 'Химия' }).waitFor();
  await assertLabelled(page);
  await shot(page, 'classes');

  step('a /help link is edited and appears on /help');
  await page.getByRole('link', { name: 'Ссылки на /help' }).click();
  await page.locator('#links-list li').first().waitFor();
  const linkCount = await page.locator('#links-list li').count();
  await page.getByRole('button', { name: 'Добавить ссылку' }).click();
  const added = page.locator('#links-list li').last();
  await added.getByLabel('Название').fill('Электронная библиотека школы');
  await added.getByLabel('Адрес (https://…)').fill('https://library.school.example/');
  await page.locator('#links-list li').first().getByLabel('Название').fill('РЭШ: уроки по всем предметам');
  await page.getByRole('button', { name: 'Сохранить' }).click();
  await page.locator('#status', { hasText: `Ссылки сохранены: ${linkCount + 1}.` }).waitFor();
  await assertLabelled(page);
  await shot(page, 'links');
  const help = await (await fetch(`${server.url}/help`)).text();
  assert.ok(help.includes('href="https://library.school.example/"'), 'the new link is on /help');
  assert.ok(help.includes('Электронная библиотека школы'));
  assert.ok(help.includes('РЭШ: уроки по всем предметам'), 'the edited title is on /help');
  // Moved up one place, the new link comes before the one that preceded it.
  const before = await page.locator('#links-list li').nth(linkCount - 1).getByLabel('Название').inputValue();
  await page.getByRole('button', { name: `Выше: Ссылка ${linkCount + 1}` }).click();
  assert.equal(await page.evaluate(() => document.activeElement.id), `link-${linkCount - 1}-up`, 'focus follows the link');
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/admin/help-links') && r.request().method() === 'PUT');
  await page.getByRole('button', { name: 'Сохранить' }).click();
  assert.equal((await saved).status(), 200);
  const reordered = await (await fetch(`${server.url}/help`)).text();
  assert.ok(reordered.indexOf('Электронная библиотека школы') < reordered.indexOf(before), `${before} now comes after`);

  step('a consultation takes place; the record is filtered and exported');
  await holdConsultation(page, {
    teacherToken: await token(server.url, 'teacher1'),
    studentToken: await token(server.url, 'student3'),
    subject: 'math',
    topic: 'Квадратные уравнения',
  });
  await page.getByRole('link', { name: 'Журнал консультаций' }).click();
  await page.getByRole('heading', { name: 'Журнал консультаций', level: 1 }).waitFor();
  const filters = page.locator('#record-filters');
  await filters.getByLabel('Предмет').selectOption('math');
  await filters.getByLabel('Класс').selectOption('9A');
  await filters.getByLabel('Итог').selectOption('held');
  await filters.getByLabel('Форма').selectOption('individual');
  const today = new Date().toISOString().slice(0, 10);
  await filters.getByLabel('С', { exact: true }).fill(today);
  let rows = page.locator('#record-table tbody tr');
  for (let i = 0; i < 50; i += 1) {
    await page.getByRole('button', { name: 'Показать' }).click();
    await page.waitForTimeout(100);
    if (await rows.count() === 1) break;
  }
  assert.equal(await rows.count(), 1, 'the consultation is in the record');
  const row = rows.first();
  assert.ok((await row.textContent()).includes('Квадратные уравнения'));
  assert.ok((await row.textContent()).includes('состоялась'));
  assert.ok((await row.textContent()).includes('Индивидуальная, онлайн'));
  await filters.getByLabel('Итог').selectOption('deferred');
  await page.getByRole('button', { name: 'Показать' }).click();
  await page.locator('#record-count', { hasText: 'Консультаций: 0.' }).waitFor();
  await filters.getByLabel('Итог').selectOption('held');
  await page.getByRole('button', { name: 'Показать' }).click();
  await page.locator('#record-count', { hasText: 'Консультаций: 1.' }).waitFor();
  await assertLabelled(page);
  await shot(page, 'record');
  const csvDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Скачать CSV' }).click();
  const csv = await csvDownload;
  assert.match(csv.suggestedFilename(), /^konsult-consultations-.*\.csv$/);
  const csvText = readFileSync(await csv.path(), 'utf8');
  const csvLines = csvText.trim().split('\n');
  assert.equal(csvLines.length, 2, csvText);
  assert.match(csvLines[0], /^id,form,mode,subject,topic/);
  assert.ok(csvLines[1].includes('Квадратные уравнения') && csvLines[1].includes('held'));

  step('the summary by form, teacher and month');
  await page.getByRole('link', { name: 'Отчёт' }).click();
  await page.locator('.tally[data-kind="by_form"] tbody th', { hasText: 'Индивидуальная, онлайн' }).waitFor();
  assert.ok((await page.locator('.tally[data-kind="by_teacher"] tbody').textContent()).includes('Анна Петровна Смирнова'));
  assert.equal(await page.locator('.tally[data-kind="by_month"] tbody tr').count(), 1);
  assert.match(await page.locator('.tally[data-kind="by_month"] tbody th').textContent(), /^\d{4}-\d{2}$/);
  assert.match(await page.locator('#summary-total').textContent(), /Всего: 1; состоялось: 1/);
  await shot(page, 'summary');
  const reportDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Скачать отчёт (CSV)' }).click();
  const report = readFileSync(await (await reportDownload).path(), 'utf8').replace(/^\ufeff/, '').trim().split('\r\n');
  const tally = 'Всего,Состоялось,Отложено,Отменено,Идёт,Минут';
  assert.deepEqual(report.slice(0, 14), [
    'Отчёт о консультациях,… – …',
    '', 'По формам', `Форма,${tally}`, '"Индивидуальная, онлайн",1,1,0,0,0,0', 'Всего,1,1,0,0,0,0',
    '', 'По учителям', `Учитель,${tally}`, 'Анна Петровна Смирнова,1,1,0,0,0,0',
    '', 'По месяцам', `Месяц,${tally}`,
    `${await page.locator('.tally[data-kind="by_month"] tbody th').textContent()},1,1,0,0,0,0`,
  ]);
  for (const title of ['Консультации по неделям и формам', 'Время ожидания по предметам', 'Нагрузка по учителям', 'Офлайн-вопросы: ответ в течение суток']) {
    assert.ok(report.includes(title), `the report's CSV has the section ${title}`);
  }

  step('every action is in the audit log');
  await page.getByRole('link', { name: 'Журнал действий' }).click();
  await page.locator('#audit-table tbody tr[data-action]').first().waitFor();
  const actions = await page.locator('#audit-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    action: tr.dataset.action, who: tr.cells[1].textContent, target: tr.cells[3].textContent,
  })));
  for (const [action, target] of [
    ['user.create', 'orlova'], ['users.import', ''], ['user.password_reset', 'student7'], ['user.deactivate', 'student8'],
    ['subject.put', 'chemistry'], ['help_links.put', ''], ['consultations.export', ''], ['consultations.report_export', ''],
  ]) {
    assert.ok(actions.some((a) => a.action === action && a.target === target && a.who === 'admin'),
      `the audit log has ${action} ${target}: ${JSON.stringify(actions)}`);
  }
  assert.deepEqual(actions.slice(0, 2).map((a) => a.action), ['consultations.report_export', 'consultations.export'], 'newest first');
  const exportDetails = await page.locator('#audit-table tbody tr').nth(1).locator('td').nth(4).textContent();
  assert.deepEqual(exportDetails.split('\n').sort(),
    ['filter.class: 9A', 'filter.form: individual', `filter.from: ${today}`, 'filter.outcome: held', 'filter.subject: math', 'rows: 1']);
  assert.equal(await page.locator('#audit-table input, #audit-table button').count(), 0, 'read-only');
  await shot(page, 'audit');

  step('English, remembered across a reload');
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  // The entries are drawn again in English once they are fetched again.
  await page.locator('#audit-table tbody tr', { hasText: 'Password reset' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  await page.getByRole('link', { name: 'Users' }).click();
  await page.locator('#users-search').getByLabel('Search by login or name').fill('student1');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: 'Reset the password of student1', exact: true }).waitFor();
  await shot(page, 'english');

  step('keyboard: the navigation and the search are reached with Tab');
  await page.getByRole('link', { name: 'Consultation record' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Consultation record', level: 1 }).waitFor();
  // Focus moves to the screen's heading.
  await page.waitForFunction(() => document.activeElement.id === 'record-title');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'rec-from');
  // The one refusal the screens were asked for (a taken login) is the only failed request.
  const expected = (e) => e.includes('status of 409') && e.endsWith('/api/admin/users');
  assert.equal(errors.filter(expected).length, 1, JSON.stringify(errors));
  assert.deepEqual(errors.filter((e) => !expected(e)), [], 'no errors in the console');

  step('on a phone');
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const mobile = await phone.newPage();
  const mobileErrors = watchErrors(mobile);
  await mobile.goto(`${server.url}/admin`);
  await mobile.locator('#login-form').getByLabel('Логин').fill('admin');
  await mobile.locator('#login-form').getByLabel('Пароль').fill('demo');
  await mobile.getByRole('button', { name: 'Войти' }).click();
  await mobile.locator('#users-table tbody tr').first().waitFor();
  await assertFits(mobile);
  await shot(mobile, 'phone-users');
  await mobile.getByRole('link', { name: 'Журнал консультаций' }).tap();
  await mobile.getByRole('heading', { name: 'Журнал консультаций', level: 1 }).waitFor();
  await assertFits(mobile);
  await shot(mobile, 'phone-record');
  assert.deepEqual(mobileErrors, []);
  await phone.close();

  step('the audit log pages back through older entries');
  for (let i = 0; i < 100; i += 1) {
    const put = await call(server.url, 'PUT', '/api/admin/subjects/chemistry', admin, { name: `Химия ${i}` });
    assert.equal(put.status, 200);
  }
  await page.getByRole('link', { name: 'Audit log' }).click();
  // The table still holds the earlier visit's rows until the new page of entries arrives.
  await page.waitForFunction(() => document.querySelectorAll('#audit-table tbody tr').length === 100);
  await page.getByRole('button', { name: 'Show more' }).click();
  await page.locator('#audit-table tbody tr[data-action="user.create"]').waitFor();
  const all = await page.locator('#audit-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.action));
  assert.equal(all.length, 100 + 9, 'every entry, each once');
  assert.equal(all.at(-1), 'user.create', 'the oldest last');
  assert.ok(await page.getByRole('button', { name: 'Show more' }).isHidden(), 'nothing older');

  step('signing out forgets the token');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Administration sign-in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  step('a token that stops working leads back to sign-in, saying why');
  await page.locator('#login-form').getByLabel('Login').fill('admin');
  await page.locator('#login-form').getByLabel('Password').fill('demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  assert.ok(page.url().endsWith('#audit'), 'signing in again returns to the screen in the address');
  const self = (await call(server.url, 'GET', '/api/admin/users?q=admin&role=admin', admin)).body.users[0];
  const reset = await call(server.url, 'POST', `/api/admin/users/${self.id}/password`, admin);
  assert.equal(reset.status, 200, 'a reset ends every older token of the account');
  await page.getByRole('link', { name: 'Report' }).click();
  await page.getByRole('alert').filter({ hasText: 'Your session has expired' }).waitFor();
  await page.getByRole('heading', { name: 'Administration sign-in' }).waitFor();
  assert.equal(await page.locator('#status').textContent(), '');
  console.log('admin: ok');
} catch (e) {
  console.error(server.log());
  throw e;
} finally {
  await browser.close();
  server.stop();
}
