import { launchBrowser, loginAs, startServer, framesDecoded } from '/work/wt/web/tests/browser/lib.mjs';
const server = await startServer();
const browser = await launchBrowser();
const log = (who) => (p) => {
  p.on('console', (m) => console.log(who, 'console', m.type(), m.text()));
  p.on('websocket', (ws) => {
    ws.on('framesent', (f) => console.log(who, '>>', String(f.payload).slice(0, 160)));
    ws.on('framereceived', (f) => console.log(who, '<<', String(f.payload).slice(0, 160)));
  });
};
try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  log('T')(teacher);
  await teacher.click('#availability');
  const student = await loginAs(browser, server.url, 'student1');
  log('S')(student);
  await student.waitForSelector('.teacher-list .teacher');
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'x');
  await student.click('#ask-submit');
  await teacher.waitForSelector('.offer');
  await teacher.click('.offer .offer-accept');
  await new Promise((r) => setTimeout(r, 8000));
  console.log('frames', await framesDecoded(teacher), await framesDecoded(student));
  for (const p of [teacher, student]) console.log(await p.evaluate(async () => {
    const v = [...document.querySelectorAll('video')].map((v) => [v.className, v.srcObject?.getTracks().map((t) => t.kind + ':' + t.readyState + ':' + t.enabled)]);
    const st = await window.konsultPc?.getStats();
    const out = [];
    st?.forEach((s) => { if (s.type === 'inbound-rtp' || s.type === 'outbound-rtp' || s.type==='candidate-pair') out.push([s.type, s.kind, s.bytesReceived ?? s.bytesSent, s.framesDecoded, s.state]); });
    return JSON.stringify({ v, out, tr: window.konsultPc?.getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection, t.sender.track?.kind, t.receiver.track?.kind]) });
  }));
} finally { await browser.close(); server.stop(); }
