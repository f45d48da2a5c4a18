// A student on a slow phone asks a teacher on a slow computer (both pages' CPU throttled
// sixfold, as Chromium's DevTools do; a loaded machine is like that) for an individual
// consultation three times: each time the direct link must connect before
// the hub's default fallback to the SFU (15 s). A slow page answers the teacher's offer late;
// the client must not take that for a lost signal and renegotiate, which throws the progress
// away and, on such a page, never lets the link connect in time.
import assert from 'node:assert/strict';
import { launchBrowser, loginAs, startServer, waitInPage } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const ROUNDS = 3;

try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student1');
  for (const page of [teacher, student]) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
  }
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  for (let round = 1; round <= ROUNDS; round++) {
    await student.selectOption('#ask-subject', 'math');
    await student.fill('#ask-topic', `Задача ${round}`);
    await student.click('#ask-submit');
    await teacher.click('.offer .offer-accept');
    const accepted = Date.now();
    // Connected directly on both sides, or moved to the SFU: whichever comes first.
    const path = await waitInPage(student, () => {
      const peer = window.konsult.peer();
      if (peer?.media === 'sfu') return 'sfu';
      const members = peer?.members ?? [];
      return members.length === 2 && members.every((m) => m.media === 'connected') ? 'p2p' : null;
    }, null, 40000);
    const took = (Date.now() - accepted) / 1000;
    console.log(`slow-phone: round ${round}: ${path} after ${took.toFixed(1)} s`);
    if (path !== 'p2p') {
      for (const page of [teacher, student]) console.error(JSON.stringify(await page.evaluate(() => window.konsult.peer())), page.errors);
    }
    assert.equal(path, 'p2p', `round ${round}: the direct link connected before the fallback (${took.toFixed(1)} s)`);
    await teacher.click('.session .leave');
    await student.waitForSelector('.home.student', { timeout: 30000 });
    await teacher.waitForSelector('.home');
  }
  console.log(`slow-phone: ok in ${(Date.now() - started) / 1000} s`);
} finally {
  await browser.close();
  server.stop();
}
