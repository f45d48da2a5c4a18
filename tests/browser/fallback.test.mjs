// An individual consultation whose peer-to-peer path does not come up in time moves to the
// SFU: with `media.p2p_timeout` at 200 ms the hub moves the session before ICE can connect,
// both browsers drop their peer connection, offer to the SFU, and decode each other's video
// through the server.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer, waitForFrames } from './lib.mjs';

const started = Date.now();
const server = await startServer({ KONSULT_MEDIA_P2P_TIMEOUT: '200ms' });
const browser = await launchBrowser();
try {
  const teacher = await loginAs(browser, server.url, 'teacher2');
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  const student = await loginAs(browser, server.url, 'student7');
  await student.waitForSelector('.teacher-list .teacher');
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Системы уравнений');
  await student.click('#ask-submit');
  await teacher.click('.offer .offer-accept');

  await Promise.all([teacher, student].map((p) => p.waitForSelector('.session .media-path:has-text("через сервер")')));
  const [teacherFrames, studentFrames] = await Promise.all([waitForFrames(teacher, 0, 40000), waitForFrames(student, 0, 40000)]);
  console.log(`fallback: video through the SFU, teacher ${teacherFrames} frames, student ${studentFrames} frames`);
  await student.waitForSelector('.session .notice:has-text("через сервер")');
  await student.screenshot({ path: join(artifacts, 'session-sfu-fallback.png'), fullPage: true });

  await teacher.click('.session .leave');
  await student.waitForSelector('.home.student');
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(student.errors, []);
  console.log(`fallback: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
