// Screen share is a track of its own beside the camera: in an individual (peer-to-peer)
// session and in a group session through the SFU, a student shares the screen while the
// camera stays on, and the teacher decodes frames of both streams and shows the screen big.
// When the share stops, the teacher's screen tile goes and the camera keeps playing; through
// the SFU a second share after that shows again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

/// Polls the page's incoming videos until the camera and the screen both decode new frames.
async function waitCameraAndScreen(page, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let first = null;
  for (;;) {
    const inbound = await page.evaluate(() => window.konsult.videoInbound());
    const camera = inbound.filter((s) => !s.screen).reduce((n, s) => n + s.frames, 0);
    const screen = inbound.filter((s) => s.screen).reduce((n, s) => n + s.frames, 0);
    first ??= { camera, screen };
    if (camera > first.camera && screen > 0) return { camera, screen };
    if (Date.now() > deadline) throw new Error(`camera and screen expected: ${JSON.stringify(inbound)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/// Waits until a visible screen tile of the page shows a playing video. Decoded frames in
/// `getStats` come a moment before the video element knows its size, so this polls.
async function screenTileShown(page, timeout = 15000) {
  const shown = () => {
    const tile = document.querySelector('.tile.remote.screen');
    if (!tile || tile.hidden) return false;
    const video = tile.querySelector('video');
    return video.videoWidth > 0 && tile.getBoundingClientRect().width > 0;
  };
  return page.waitForFunction(shown, null, { timeout }).then(() => true, () => false);
}

try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student1');

  // Peer to peer: an individual consultation.
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Показываю решение на экране');
  await student.click('#ask-submit');
  await teacher.click('.offer .offer-accept');
  // Each side's link and what the hub says of it, as it changes: printed if the session leaves
  // the direct path.
  const accepted = Date.now();
  const timeline = [];
  const seen = new Map();
  const watch = setInterval(async () => {
    for (const [name, page] of [['teacher', teacher], ['student', student]]) {
      const now = await page.evaluate(() => {
        const p = window.konsult.peer();
        return p && `${p.path} ${p.connection}/${p.signaling} ice ${p.ice}/${p.gathering} candidates ${JSON.stringify(p.candidates)} received ${p.received} hub: ${p.media} ${(p.members ?? []).map((m) => m.media).join('/')}`;
      }).catch(() => null);
      if (now && seen.get(name) !== now) {
        seen.set(name, now);
        timeline.push(`${((Date.now() - accepted) / 1000).toFixed(1)} s ${name}: ${now}`);
      }
    }
  }, 250);
  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);
  await student.click('.session .screen');
  await student.waitForSelector('.session .screen[aria-pressed=true]');
  const p2p = await waitCameraAndScreen(teacher).catch(async (err) => {
    for (const page of [teacher, student]) console.error(JSON.stringify(await page.evaluate(() => window.konsult.peer())), page.errors);
    throw err;
  });
  const path = await teacher.textContent('.media-path');
  clearInterval(watch);
  if (!/напрямую/.test(path)) {
    // Say why the session left the direct path: each side's link and what the hub said.
    console.error(timeline.join('\n'));
    for (const page of [teacher, student]) console.error(page.errors, page.warnings);
  }
  assert.match(path, /напрямую/, `the session stayed peer to peer (${(Date.now() - started) / 1000} s in)`);
  await teacher.waitForFunction(() => document.querySelectorAll('.tile.remote.screen').length === 1);
  assert.ok(await screenTileShown(teacher), 'the screen shows on the teacher side');
  console.log(`screen: peer to peer, teacher decodes camera ${p2p.camera} and screen ${p2p.screen} frames`);
  await shot(teacher, 'screen-share-teacher');
  await shot(student, 'screen-share-student');

  await student.click('.session .screen');
  await teacher.waitForSelector('.tile.remote.screen', { state: 'detached', timeout: 15000 });
  await teacher.waitForSelector('.tile.remote:not(.screen) video');
  await teacher.click('.session .leave');
  await student.waitForSelector('.home.student');

  // Through the SFU: a group session.
  await teacher.selectOption('#create-form', 'group');
  await teacher.selectOption('#create-subject', 'math');
  await teacher.fill('#create-title', 'Экран в группе');
  await teacher.selectOption('#create-class', '9A');
  await teacher.check('#create-whole-class');
  await teacher.click('#create-submit');
  await teacher.waitForSelector('.session');
  await student.click('.invites button[data-session]');
  await student.waitForSelector('.session');
  await student.click('.session .screen');
  const sfu = await waitCameraAndScreen(teacher, 40000);
  await teacher.waitForFunction(() => document.querySelector('.tile.remote.screen:not([hidden]) video')?.videoWidth > 0);
  assert.match(await teacher.textContent('.media-path'), /сервер/);
  console.log(`screen: through the SFU, teacher decodes camera ${sfu.camera} and screen ${sfu.screen} frames`);
  await shot(teacher, 'screen-share-sfu');
  // The captions follow a language switch while the videos keep playing.
  await teacher.click('#lang');
  await teacher.waitForSelector('.tile.remote.screen figcaption:has-text("Screen:")');
  await teacher.click('#lang');
  await teacher.waitForSelector('.tile.remote.screen figcaption:has-text("Экран:")');

  // Stopping the share renegotiates: the SFU stops forwarding it, and the teacher's screen
  // tile goes (not only hides) while the camera keeps playing.
  await student.click('.session .screen');
  await teacher.waitForSelector('.tile.remote.screen', { state: 'detached', timeout: 15000 });
  await teacher.waitForSelector('.tile.remote:not(.screen) video');
  // Sharing again reuses the student's m-line; the SFU forwards the screen anew.
  await student.click('.session .screen');
  await student.waitForSelector('.session .screen[aria-pressed=true]');
  await teacher.waitForFunction(() => document.querySelector('.tile.remote.screen:not([hidden]) video')?.videoWidth > 0, null, { timeout: 30000 });
  console.log('screen: through the SFU, stopped and shared again');
  await student.click('.session .screen');
  await teacher.waitForSelector('.tile.remote.screen', { state: 'detached', timeout: 15000 });
  await teacher.click('.session .end');
  await student.waitForSelector('.home.student');

  for (const page of [teacher, student]) assert.deepEqual(page.errors, []);
  console.log(`screen: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
