// The video stage with 2 members (peer to peer) and with 6 (through the SFU), on a desktop and
// on a phone held upright: the other member large and the self view small, mirrored, in a
// corner; on the phone the large video fills the width and the controls stay at the bottom of
// the screen. With 6, the one student who speaks (the others switched their microphones off)
// takes the large tile on the teacher's page, the switched-off microphones show on their
// tiles, a raised hand shows, a pinned student stays large until unpinned, and the tiles in
// the strip fit the screen; a phone with room for fewer cameras receives only the video of the
// tiles on its screen (`media_view`). Screenshots of each go to the test output folder.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer, waitForFrames, waitInPage } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`) });
const phone = { viewport: { width: 360, height: 740 } };

/// Where the page's tiles are: the large one's box and user, the self view's box and mirror,
/// the strip's tiles, the controls' box.
async function layout(page) {
  return page.evaluate(() => {
    const box = (el) => {
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return { x: Math.round(r.x), y: Math.round(r.y), w: Math.round(r.width), h: Math.round(r.height) };
    };
    const main = document.querySelector('.stage-main .tile');
    const local = document.querySelector('.stage-view > .tile.local');
    return {
      main: box(main),
      mainUser: main?.dataset.user ?? null,
      local: box(local),
      mirrored: local ? getComputedStyle(local.querySelector('video')).transform : null,
      strip: [...document.querySelectorAll('.stage-strip .tile')].map(box),
      controls: box(document.querySelector('.session .controls')),
      width: window.innerWidth,
      height: window.innerHeight,
      sideways: document.documentElement.scrollWidth - window.innerWidth,
    };
  });
}

/// The user id behind a login, from the page's roster.
async function idOf(page, name) {
  return page.evaluate((n) => document.querySelector(`.roster .member[aria-label^="${n}"]`)?.dataset.user ?? null, name);
}

try {
  // Two members, peer to peer: the teacher on a desktop, the student on a phone.
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student1', phone);
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Сцена на двоих');
  await student.click('#ask-submit');
  await teacher.click('.offer .offer-accept');
  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);
  await Promise.all([waitForFrames(teacher), waitForFrames(student)]);
  await teacher.waitForSelector('.stage-main .tile.remote video');
  await student.waitForSelector('.stage-main .tile.remote video');
  const desk = await layout(teacher);
  assert.ok(desk.main.w > desk.local.w * 3, `the other member is large, the self view small: ${JSON.stringify(desk)}`);
  assert.ok(desk.local.x + desk.local.w <= desk.main.x + desk.main.w + 1 && desk.local.y <= desk.main.y + 16, 'the self view sits in a corner of the large tile');
  assert.match(desk.mirrored, /matrix\(-1/, 'the self view is mirrored');
  assert.equal(desk.mainUser, await idOf(teacher, 'Ученик 1'));
  await shot(teacher, 'stage-2-desktop');
  const hand = await layout(student);
  assert.ok(hand.main.w >= hand.width - 40, `on a phone the large video fills the width: ${JSON.stringify(hand)}`);
  assert.ok(hand.sideways <= 0, `the phone's page scrolls sideways by ${hand.sideways} px`);
  assert.ok(hand.controls.y + hand.controls.h <= hand.height + 1, `the controls are on the phone's screen: ${JSON.stringify(hand.controls)}`);
  await shot(student, 'stage-2-phone');
  // A switched-off microphone shows on the tile the other side sees.
  await student.click('.session .toggle.mic');
  await teacher.waitForSelector('.stage-main .tile.remote .mark.mic-off');
  await student.click('.session .toggle.mic');
  await teacher.waitForSelector('.stage-main .tile.remote .mark.mic-off', { state: 'detached' });
  await teacher.click('.session .leave');
  await student.waitForSelector('.home.student');

  // Six members through the SFU: the teacher and five students of 9A.
  const names = ['Ученик 1', 'Ученик 2', 'Ученик 3', 'Ученик 4', 'Ученик 5'];
  // student2's page receives every video only up to 2 cameras (`media_view`): beyond, the
  // tiles on its screen only.
  const fewVideos = { ...phone, initScript: () => localStorage.setItem('konsult.view_all', '2') };
  const students = [student, ...await Promise.all(['student2', 'student3', 'student4', 'student5'].map((l) => loginAs(browser, server.url, l, l === 'student2' ? fewVideos : phone)))];
  await teacher.selectOption('#create-form', 'group');
  await teacher.selectOption('#create-subject', 'math');
  await teacher.fill('#create-title', 'Сцена на шестерых');
  for (const name of names) {
    await teacher.fill('#create-search', name);
    const box = teacher.getByRole('checkbox', { name: `${name} 9A`, exact: true });
    await box.check();
  }
  await teacher.waitForSelector('.chosen-count:has-text("Выбрано: 5")');
  await teacher.click('#create-submit');
  await teacher.waitForSelector('.session');
  for (const page of students) {
    await page.click('.invites button[data-session]');
    await page.waitForSelector('.session');
  }
  // Everyone but student3 switches the microphone off: student3 is the one heard.
  for (const page of students) {
    if (page !== students[2]) await page.click('.session .toggle.mic');
  }
  await waitInPage(teacher, () => document.querySelectorAll('.stage-view .tile.remote video').length === 5, null, 60000);
  await waitInPage(teacher, () => document.querySelectorAll('.stage-strip .tile.remote .mark.mic-off').length === 4, null, 30000);
  const speaker = await idOf(teacher, 'Ученик 3');
  const seen = await waitInPage(teacher, (id) => {
    const s = window.konsult.stage();
    return s.main !== null && document.querySelector('.stage-main .tile')?.dataset.user === id && s;
  }, speaker, 30000).catch(async () => {
    throw new Error(`the speaker did not take the stage: ${JSON.stringify(await teacher.evaluate(() => window.konsult.stage()))}`);
  });
  console.log(`stage: the speaker took the stage; levels ${JSON.stringify(seen.levels)}`);
  const six = await layout(teacher);
  assert.equal(six.strip.length, 4, 'four students in the strip');
  assert.ok(six.strip.every((t) => t.w < six.main.w / 2), 'the strip tiles are small');
  assert.ok(six.sideways <= 0, `the desktop page scrolls sideways by ${six.sideways} px`);
  // A raised hand shows on the tile.
  await students[4].click('.session .hand');
  await teacher.waitForSelector(`.tile.remote[data-user="${await idOf(teacher, 'Ученик 5')}"] .mark.hand-up`);
  await shot(teacher, 'stage-6-desktop');
  // Pinning keeps a silent student large; unpinning gives the stage back to the speaker.
  const quiet = await idOf(teacher, 'Ученик 5');
  await teacher.click(`.tile.remote[data-user="${quiet}"] .pin`);
  await teacher.waitForSelector(`.stage-main .tile[data-user="${quiet}"]`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await teacher.evaluate(() => document.querySelector('.stage-main .tile').dataset.user), quiet, 'the pinned tile stays large');
  await teacher.click(`.stage-main .tile[data-user="${quiet}"] .pin`);
  await teacher.waitForSelector(`.stage-main .tile[data-user="${speaker}"]`);
  // A student on a phone: the large tile fills the width, the strip scrolls within itself.
  await waitInPage(students[0], () => document.querySelectorAll('.stage-view .tile.remote video').length === 5, null, 60000);
  const small = await layout(students[0]);
  assert.ok(small.main.w >= small.width - 40, `on a phone the large video fills the width: ${JSON.stringify(small.main)}`);
  assert.ok(small.sideways <= 0, `the phone's page scrolls sideways by ${small.sideways} px`);
  await shot(students[0], 'stage-6-phone');

  // On student2's phone, 5 cameras and room for fewer: the SFU sends the video of the tiles on
  // screen only, and a tile scrolled out of the strip stops receiving frames.
  const viewer = students[1];
  await waitInPage(viewer, () => document.querySelectorAll('.stage-view .tile.remote video').length === 5, null, 60000);
  await waitInPage(viewer, () => Array.isArray(window.konsult.stage().view), null, 20000);
  // The large tile pinned, so that a change of speaker does not change the view meanwhile.
  await viewer.click('.stage-main .tile .pin');
  const frameCounts = () => viewer.evaluate(() => Object.fromEntries([...document.querySelectorAll('.stage-view .tile.remote')]
    .map((t) => [t.dataset.user, t.querySelector('video').getVideoPlaybackQuality().totalVideoFrames])));
  let viewing;
  let before;
  let after;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    await new Promise((r) => setTimeout(r, 1000));
    viewing = await viewer.evaluate(() => window.konsult.stage());
    before = await frameCounts();
    await new Promise((r) => setTimeout(r, 2000));
    after = await frameCounts();
    const still = await viewer.evaluate(() => window.konsult.stage().view);
    if (JSON.stringify(still) === JSON.stringify(viewing.view)) break;
  }
  assert.ok(viewing.view.length < 5, `the view asks for fewer than all five: ${JSON.stringify(viewing)}`);
  const users = await viewer.evaluate(() => [...document.querySelectorAll('.stage-view .tile.remote')].map((t) => Number(t.dataset.user)));
  const hidden = users.filter((u) => !viewing.view.includes(u));
  assert.ok(hidden.length > 0, `a member is out of view: ${JSON.stringify(viewing)}`);
  // A forwarded camera decodes 30 or more frames in 2 s; one out of view at most a few (a
  // retransmission, or a frame already in the jitter buffer when the view changed).
  const decoded = (u) => after[u] - before[u];
  for (const u of hidden) {
    assert.ok(decoded(u) <= 6, `the tile out of view still decodes: ${JSON.stringify({ before, after, viewing })}`);
  }
  for (const u of viewing.view) {
    assert.ok(decoded(u) >= 15, `a tile in view decodes: ${JSON.stringify({ before, after, viewing })}`);
  }
  console.log(`stage: student2's phone receives video of ${viewing.view.length} of 5 members`);

  await teacher.click('.session .end');
  await Promise.all(students.map((s) => s.waitForSelector('.home.student')));
  for (const page of [teacher, ...students]) assert.deepEqual(page.errors, []);
  console.log(`stage: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
