// A frontal consultation of a teacher and five students of 9A through the server's SFU: the
// students join from the invitation, see the teacher's video, one raises a hand, the teacher
// gives the floor, and the others then decode that student's video too. Without the floor a
// student's microphone shows off and unavailable with the reason, and the camera is sent to
// the teacher alone: the teacher decodes every student, a student no other student, until the
// teacher lets the class see each other's cameras.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer, waitForFrames } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const small = { viewport: { width: 480, height: 800 } };

/// Incoming video streams of a page that decoded frames.
async function liveVideos(page) {
  const inbound = await page.evaluate(() => window.konsult.videoInbound());
  return inbound.filter((s) => s.frames > 0).length;
}

async function waitLiveVideos(page, count, timeout = 40000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const live = await liveVideos(page);
    if (live >= count) return live;
    if (Date.now() > deadline) throw new Error(`${count} live videos expected, ${live} decoding`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const students = [];
  for (let i = 1; i <= 5; i += 1) students.push(await loginAs(browser, server.url, `student${i}`, small));

  await teacher.selectOption('#create-form', 'frontal');
  await teacher.selectOption('#create-subject', 'math');
  await teacher.fill('#create-title', 'Разбор контрольной');
  await teacher.selectOption('#create-class', '9A');
  await teacher.click('#create-submit');
  await teacher.waitForSelector('.session');

  for (const student of students) {
    await student.click('.invites button[data-session]');
    await student.waitForSelector('.session');
  }
  await teacher.waitForFunction(() => document.querySelectorAll('.roster .member').length >= 6);
  const speaker = students[2];

  /// What a student's own microphone and camera show.
  const toggles = (page) => page.evaluate(() => {
    const state = (b) => ({ pressed: b.getAttribute('aria-pressed'), disabled: b.getAttribute('aria-disabled') === 'true', reason: b.getAttribute('aria-describedby') });
    const preview = document.querySelector('.tile.local video').srcObject;
    return {
      mic: state(document.querySelector('.session .toggle.mic')),
      cam: state(document.querySelector('.session .toggle.cam')),
      reason: document.getElementById('no-floor')?.textContent ?? null,
      audience: document.querySelector('.session .camera-audience')?.textContent ?? null,
      preview: Boolean(preview && preview.getVideoTracks().length),
    };
  });
  const off = { pressed: 'false', disabled: true, reason: 'no-floor' };
  const on = { pressed: 'true', disabled: false, reason: null };
  const before = await toggles(speaker);
  assert.deepEqual([before.mic, before.cam], [off, on]);
  assert.match(before.reason, /попросите слово/);
  assert.match(before.audience, /только учитель/);
  assert.equal(before.preview, true);
  await shot(speaker, 'frontal-no-floor');

  // The teacher decodes all five students' cameras; a student only the teacher's.
  await waitLiveVideos(teacher, 5);
  await Promise.all(students.map((s) => waitForFrames(s, 0, 40000)));
  await new Promise((r) => setTimeout(r, 2000));
  for (const s of students) assert.equal(await liveVideos(s), 1, 'a student decodes the teacher alone');
  await shot(teacher, 'frontal-teacher-sees-class');

  await speaker.click('.session .hand');
  const speakerId = await speaker.evaluate(() => [...document.querySelectorAll('.member')]
    .find((m) => m.querySelector('.name').textContent.includes('(Я)')).dataset.user);
  await teacher.waitForSelector(`.member.hand-up[data-user="${speakerId}"]`);
  await shot(teacher, 'frontal-hand');
  await teacher.click(`.member[data-user="${speakerId}"] .give-floor`);
  await speaker.waitForSelector('.session .notice:has-text("Вам дали слово")');
  const granted = await toggles(speaker);
  assert.deepEqual([granted.mic, granted.cam, granted.reason, granted.preview], [on, on, null, true]);
  const listener = await toggles(students[0]);
  assert.deepEqual([listener.mic, listener.cam], [off, on]);

  // Every student receives the teacher; the others also decode the speaker's video.
  try {
    await Promise.all(students.map((s) => waitForFrames(s, 0, 40000)));
  } catch (err) {
    for (const page of [teacher, ...students]) console.error(JSON.stringify(await page.evaluate(() => window.konsult.peer())));
    throw err;
  }
  // The others now decode two videos: the teacher's and the speaker's.
  const others = students.filter((s) => s !== speaker);
  const counts = await Promise.all(others.map((s) => waitLiveVideos(s, 2)));
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of others) assert.equal(await liveVideos(s), 2, 'the teacher and the floor holder');
  console.log(`frontal: the floor holder is received by ${counts.length} students`);
  await shot(others[0], 'frontal-student');
  await shot(teacher, 'frontal-teacher');

  // The class sees itself: every student decodes the teacher and the four others.
  await teacher.click('.session .show-cameras');
  await teacher.waitForSelector('.session .show-cameras[aria-pressed="true"]');
  await Promise.all(students.map((s) => waitLiveVideos(s, 5)));
  assert.match((await toggles(students[0])).audience, /весь класс/);
  await shot(students[0], 'frontal-class-sees-class');

  await teacher.click('.session .end');
  await Promise.all(students.map((s) => s.waitForSelector('.home.student')));
  for (const page of [teacher, ...students]) assert.deepEqual(page.errors, []);
  console.log(`frontal: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
