// Subject names come from one source: the administration renames a subject on its screen, and
// the students' and teachers' pages show the new name (teacher list, the ask-for-help form,
// the queue, an offer, a thread's title, the queues, the session form, the hours); the school's
// names stay in English. A subject the school never named shows the built-in name of the page's
// language, and a code Konsult has no name for shows as it is.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';
import { call, token, watchErrors } from './admin-lib.mjs';

const NAME = 'Алгебра и геометрия';
const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `subjects-${name}.png`), fullPage: true });
const step = (what) => console.log(`subjects: ${what}`);

try {
  step('the admin renames math on the classes and subjects screen');
  const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await adminContext.newPage();
  const adminErrors = watchErrors(admin);
  await admin.goto(`${server.url}/admin`);
  await admin.locator('#login-form').getByLabel('Логин').fill('admin');
  await admin.locator('#login-form').getByLabel('Пароль').fill('demo');
  await admin.getByRole('button', { name: 'Войти' }).click();
  await admin.getByRole('heading', { name: 'Пользователи', level: 1 }).waitFor();
  await admin.getByRole('link', { name: 'Классы и предметы' }).click();
  await admin.getByRole('button', { name: 'Изменить предмет math' }).click();
  const subjectForm = admin.locator('#subject-form');
  assert.equal(await subjectForm.getByLabel('Название').inputValue(), 'Математика', 'the demo school named it');
  await subjectForm.getByLabel('Название').fill(NAME);
  await admin.getByRole('button', { name: 'Добавить или переименовать' }).click();
  await admin.locator('#subjects-table tr[data-code="math"]', { hasText: NAME }).waitFor();
  // The admin's own screens take the same name.
  await admin.getByRole('link', { name: 'Пользователи' }).click();
  await admin.locator('#users-table tr[data-login="teacher1"]', { hasText: `${NAME}, Физика` }).waitFor();

  step('a teacher is added with two subjects the school has not named');
  const created = await call(server.url, 'POST', '/api/admin/users', await token(server.url, 'admin'), {
    login: 'orlova', name: 'Наталья Сергеевна Орлова', role: 'teacher', class: null,
    subjects: ['chemistry', 'astronomy'], password: null,
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));

  step('the student sees the new name: teacher list and the ask-for-help form');
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student1');
  const smirnova = student.locator('.teacher', { hasText: 'Смирнова' }).first();
  await smirnova.locator('.subjects').waitFor();
  assert.equal(await smirnova.locator('.subjects').textContent(), `${NAME}, Физика`);
  const orlova = student.locator('.teacher', { hasText: 'Орлова' });
  assert.equal(await orlova.locator('.subjects').textContent(), 'astronomy, химия', 'built-in name, else the code');
  assert.equal(await student.locator('#ask-subject option[value="math"]').textContent(), NAME);

  step('a request that becomes a thread is titled with the new name on both sides');
  await student.selectOption('#ask-subject', 'math');
  await student.check('#ask-offline');
  await student.fill('#ask-topic', 'Дроби');
  await student.selectOption('#ask-teacher', await smirnova.getAttribute('data-user'));
  await student.click('#ask-submit');
  await student.locator('.thread-title', { hasText: `${NAME}: Дроби` }).first().waitFor();
  await teacher.locator('.inbox button.thread', { hasText: `${NAME}: Дроби` }).waitFor({ timeout: 15000 });

  step('the teacher sees it: queues, take next, the session form, the hours');
  const queue = teacher.locator('.queue[data-subject="math"]');
  assert.match(await queue.locator('h3').textContent(), new RegExp(`^${NAME} `));
  assert.equal(await queue.locator('.take-next').textContent(), `Взять следующего (${NAME})`);
  assert.equal(await teacher.locator('#create-subject option[value="math"]').textContent(), NAME);
  await teacher.locator('.hours-add').click();
  assert.equal(await teacher.locator('#slot-0-subject option[value="math"]').textContent(), NAME);

  step('a live request: the student\'s queue and the teacher\'s offer');
  await teacher.click('#availability');
  await student.locator('.teacher', { hasText: 'Смирнова' }).locator('.status-available').waitFor();
  await student.selectOption('#ask-subject', 'math');
  await student.check('#ask-online');
  await student.fill('#ask-topic', 'Проценты');
  await student.click('#ask-submit');
  await student.locator('#queue-heading', { hasText: `Ваш запрос: ${NAME}` }).waitFor();
  await teacher.locator('.offer', { hasText: `${NAME}, индивидуальная` }).waitFor();
  await shot(teacher, 'teacher');
  await student.click('#queue-cancel');
  await student.locator('#student-notice', { hasText: 'Запрос отменён.' }).waitFor();

  step('in English the school\'s names stay; an unnamed subject takes the English built-in name');
  await student.click('#lang');
  await student.waitForSelector('html[lang=en]');
  await student.locator('#ask-submit', { hasText: 'Ask for help' }).waitFor();
  assert.equal(await smirnova.locator('.subjects').textContent(), `${NAME}, Физика`);
  assert.equal(await orlova.locator('.subjects').textContent(), 'astronomy, chemistry');
  await shot(student, 'student-english');

  assert.deepEqual(adminErrors, []);
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(student.errors, []);
  console.log(`subjects: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(server.log());
  throw e;
} finally {
  await browser.close();
  server.stop();
}
