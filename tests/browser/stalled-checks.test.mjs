// A direct (peer-to-peer) session whose first candidates all lead nowhere still connects
// directly: for the session's first two seconds each page gets the other's candidates with
// the port of a socket that swallows every packet, as a broken router would hand them on.
// Both sides then check pairs that never answer; the page sees the link stand still and
// renews it (an ICE restart with fresh candidates) instead of waiting until the checks fail.
// The hub's fallback to the SFU is pushed out of reach, so only that renewal keeps the
// session direct.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { launchBrowser, loginAs, startServer, waitForFrames } from './lib.mjs';

const started = Date.now();
const server = await startServer({ KONSULT_MEDIA_P2P_TIMEOUT: '120s' });
const browser = await launchBrowser();
// Takes every connectivity check and answers none.
const blackhole = createSocket({ type: 'udp6', ipv6Only: false });
let swallowed = 0;
blackhole.on('message', () => { swallowed += 1; });
await new Promise((resolve) => blackhole.bind(0, '::', resolve));
const nowhere = String(blackhole.address().port);
try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  const student = await loginAs(browser, server.url, 'student1');
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Кандидаты ведут в никуда');
  await student.click('#ask-submit');

  let rewritten = 0;
  let until = Infinity;
  // The candidate line is `candidate:<foundation> <component> <transport> <priority> <address>
  // <port> typ ...`: the port becomes the black hole's.
  const deadPort = (msg) => {
    if (msg.type === 'session_started') until = Date.now() + 2000;
    if (msg.type !== 'signal' || Date.now() > until || typeof msg.data?.candidate !== 'string') return msg;
    const fields = msg.data.candidate.split(' ');
    if (fields.length < 8) return msg;
    fields[5] = nowhere;
    rewritten += 1;
    return { ...msg, data: { ...msg.data, candidate: fields.join(' ') } };
  };
  teacher.rewriteFromServer = deadPort;
  student.rewriteFromServer = deadPort;
  await teacher.click('.offer .offer-accept');
  await Promise.all([teacher.waitForSelector('.session'), student.waitForSelector('.session')]);
  const states = [];
  const watch = setInterval(async () => {
    const line = await Promise.all([teacher, student].map((p) => p.evaluate(() => {
      const l = window.konsult.peer();
      return l && `${l.connection}/${l.signaling}/${l.ice}`;
    }).catch(() => null)));
    states.push(`${((Date.now() - started) / 1000).toFixed(1)} ${line.join(' | ')}`);
  }, 1000);

  const frames = await Promise.all([waitForFrames(teacher, 0, 40000), waitForFrames(student, 0, 40000)]);
  clearInterval(watch);
  // Each second's connection/signaling/ICE state of both pages, shown if the link left the
  // direct path.
  if (!/напрямую/.test(await teacher.textContent('.media-path'))) console.error(states.join('\n'));
  assert.ok(rewritten > 0, 'candidates were rewritten');
  assert.ok(swallowed > 0, 'connectivity checks went to the black hole');
  assert.match(await teacher.textContent('.media-path'), /напрямую/);
  assert.match(await student.textContent('.media-path'), /напрямую/);
  console.log(`stalled-checks: ${rewritten} candidates pointed nowhere, ${swallowed} checks swallowed; video decoded directly, teacher ${frames[0]} frames, student ${frames[1]} frames`);
  await teacher.click('.session .leave');
  await student.waitForSelector('.home.student');
  for (const page of [teacher, student]) assert.deepEqual(page.errors, []);
  console.log(`stalled-checks: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  blackhole.close();
  await browser.close();
  server.stop();
}
