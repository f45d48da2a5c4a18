// An offline consultation: the student asks in writing, the request becomes a personal thread,
// the student sends a photo of the homework from the phone's camera input with a question, the
// teacher finds the thread with its unread count in the inbox, sees the photo and answers, and
// the student reads the answer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

// A 2×2 PNG, as a phone camera would hand over a photo file.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==',
  'base64',
);

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student2', { viewport: { width: 390, height: 844 } });
  await student.waitForSelector('.teacher-list .teacher');
  await student.selectOption('#ask-subject', 'physics');
  await student.check('#ask-offline');
  await student.fill('#ask-topic', 'Задача 5 про рычаг');
  await student.click('#ask-submit');
  await student.waitForSelector('#student-notice:has-text("переписк")');

  // The deferred request's thread opens in the inbox with the composer.
  const panel = student.locator('.inbox .chat');
  await panel.waitFor();
  await panel.locator('input[type=file][capture=environment]').setInputFiles({ name: 'homework.png', mimeType: 'image/png', buffer: PNG });
  await panel.locator('.attached:has-text("homework.png")').waitFor();
  await panel.locator('.chat-text').fill('Вот моё решение, где ошибка?');
  await panel.locator('.chat-send').click();
  await panel.locator('.message.mine:not(.pending) img[alt="homework.png"]').waitFor();

  // The teacher's inbox shows the thread with one unread message.
  await teacher.click('#availability');
  const thread = teacher.locator('.inbox button.thread', { hasText: 'Задача 5' });
  await thread.locator('.badge').waitFor({ timeout: 15000 });
  assert.match(await thread.getAttribute('aria-label'), /\d+ непрочитанн(ое сообщение|ых сообщения|ых сообщений)$/);
  await shot(teacher, 'teacher-inbox');
  await thread.click();
  const open = teacher.locator('.inbox .chat');
  await open.locator('.message img[alt="homework.png"]').waitFor();
  await teacher.waitForFunction(() => document.querySelector('.inbox .message img')?.naturalWidth === 2);
  await thread.locator('.badge').waitFor({ state: 'detached' });
  await open.locator('.chat-text').fill('Плечо силы считается от оси вращения.');
  await open.locator('.chat-send').click();

  await panel.locator('.message:not(.mine) >> text=Плечо силы').waitFor();
  await shot(student, 'student-thread');

  // English on request, remembered after a reload.
  await student.click('#lang');
  await student.waitForSelector('html[lang=en]');
  await student.reload();
  await student.waitForSelector('#ask-submit:has-text("Ask for help")');

  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(student.errors, []);
  console.log(`offline: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
