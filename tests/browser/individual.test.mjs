// A student and a teacher in two browser contexts complete an individual consultation: the
// teacher switches to available, the student asks for help and sees the queue, the teacher
// hears the offer and accepts, both decode each other's video (framesDecoded > 0 from
// getStats) over the peer-to-peer path, exchange chat messages, and the teacher ends it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer, waitForFrames } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
try {
  const teacher = await loginAs(browser, server.url, 'teacher1', { beforeLogin: (p) => shot(p, 'login') });
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');

  // The student is on a phone-sized screen.
  const student = await loginAs(browser, server.url, 'student1', { viewport: { width: 390, height: 844 } });
  await student.waitForSelector('.teacher-list .teacher');
  const teacherRow = student.locator('.teacher', { hasText: 'Смирнова' }).first();
  await teacherRow.locator('.status-available').waitFor();
  await shot(student, 'student-home');

  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Квадратные уравнения: дискриминант');
  const teacherId = await teacherRow.getAttribute('data-user');
  await student.selectOption('#ask-teacher', teacherId);
  await student.click('#ask-submit');
  const position = await student.waitForSelector('#queue-position');
  assert.match(await position.textContent(), /место 1/);
  await shot(student, 'student-queue');

  const offer = await teacher.waitForSelector('.offer');
  assert.match(await offer.textContent(), /Квадратные уравнения/);
  await shot(teacher, 'teacher-offer');
  await teacher.click('.offer .offer-accept');

  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);
  const [teacherFrames, studentFrames] = await Promise.all([waitForFrames(teacher), waitForFrames(student)]);
  console.log(`individual: video decoded, teacher ${teacherFrames} frames, student ${studentFrames} frames`);
  assert.match(await student.textContent('.media-path'), /напрямую/);
  await shot(teacher, 'session-teacher');
  await shot(student, 'session-student');

  // Chat in the session's thread, both ways.
  await student.fill('.session .chat-text', 'Здравствуйте! Не понимаю, как найти дискриминант.');
  await student.click('.session .chat-send');
  await teacher.waitForSelector('.session .message:not(.pending) >> text=Не понимаю, как найти дискриминант');
  await teacher.fill('.session .chat-text', 'D = b² − 4ac. Давайте разберём пример.');
  await teacher.press('.session .chat-text', 'Enter');
  await student.waitForSelector('.session .message:not(.pending) >> text=Давайте разберём пример');
  await student.waitForSelector('.session .message.mine:not(.pending)');
  await shot(student, 'session-chat');

  await teacher.click('.session .leave');
  await student.waitForSelector('#flash:has-text("завершена")');
  await teacher.waitForSelector('.home.teacher');
  await student.waitForSelector('.home.student');

  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(student.errors, []);
  console.log(`individual: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
