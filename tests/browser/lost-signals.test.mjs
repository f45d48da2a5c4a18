// A direct (peer-to-peer) session whose first negotiation is lost on the way still connects
// directly: the student's page loses every `signal` of the session's first two seconds (the
// teacher's offer and candidates), as a flaky home link would, and the side whose offers win
// negotiates afresh. The hub's fallback to the SFU is pushed out of reach, so only that
// recovery can bring the video.
import assert from 'node:assert/strict';
import { launchBrowser, loginAs, startServer, waitForFrames } from './lib.mjs';

const started = Date.now();
const server = await startServer({ KONSULT_MEDIA_P2P_TIMEOUT: '120s' });
const browser = await launchBrowser();
try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student1');
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Связь теряет первые сообщения');
  await student.click('#ask-submit');

  let lost = 0;
  let losingUntil = Infinity;
  student.dropFromServer = (msg) => {
    if (msg.type === 'session_started') losingUntil = Date.now() + 2000;
    if (msg.type !== 'signal' || Date.now() > losingUntil) return false;
    lost += 1;
    return true;
  };
  await teacher.click('.offer .offer-accept');
  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);

  const frames = await Promise.all([waitForFrames(teacher, 0, 40000), waitForFrames(student, 0, 40000)]);
  assert.ok(lost > 0, 'the student lost the first signals');
  assert.match(await teacher.textContent('.media-path'), /напрямую/);
  assert.match(await student.textContent('.media-path'), /напрямую/);
  console.log(`lost-signals: ${lost} signals lost; video decoded directly, teacher ${frames[0]} frames, student ${frames[1]} frames`);
  await teacher.click('.session .leave');
  await student.waitForSelector('.home.student');
  for (const page of [teacher, student]) assert.deepEqual(page.errors, []);
  console.log(`lost-signals: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
