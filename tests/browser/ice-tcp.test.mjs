// ICE over TCP with a browser's own WebRTC stack: a member whose Chromium may not use UDP to the
// server (the SFU's UDP candidate removed from every description it receives, so only the
// passive TCP candidate is left) connects to the SFU over TCP and decodes the host's video; the
// server counts the packets that came in over TCP.
import assert from 'node:assert/strict';
import { launchBrowser, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();

/// A page on the server's origin running a bare member: logs in, opens a WebSocket, and
/// negotiates one peer connection with the SFU, publishing the fake camera and microphone.
async function member(login) {
  const page = await (await browser.newContext()).newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(async (login) => {
    const r = await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login, password: 'demo' }),
    });
    const { token } = await r.json();
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const inbox = [];
    const waiting = [];
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      const i = waiting.findIndex((w) => w.pred(m));
      if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
      else inbox.push(m);
      window.member?.onMessage?.(m);
    };
    await new Promise((ok) => { ws.onopen = ok; });
    const next = (pred) => {
      const i = inbox.findIndex(pred);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      return new Promise((resolve) => waiting.push({ pred, resolve }));
    };
    let rid = 0;
    const request = (msg) => {
      rid += 1;
      const re = rid;
      ws.send(JSON.stringify({ ...msg, rid: re }));
      return next((m) => m.re === re);
    };
    ws.send(JSON.stringify({ type: 'hello', v: 1, token }));
    const welcome = await next((m) => m.type === 'welcome');
    window.member = { ws, next, request, welcome, inbox };
  }, login);
  return page;
}

/// Starts media with the SFU in `session`; with `tcpOnly` the SFU's UDP candidates are removed
/// from its descriptions before the browser sees them.
async function startMedia(page, session, tcpOnly) {
  await page.evaluate(async ({ session, tcpOnly }) => {
    const m = window.member;
    const pc = new RTCPeerConnection();
    m.pc = pc;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
    const send = (data) => m.ws.send(JSON.stringify({ type: 'signal', session, to: 'sfu', data }));
    const strip = (sdp) => (tcpOnly
      ? sdp.split('\r\n').filter((l) => !/^a=candidate:\S+ \d+ udp /i.test(l)).join('\r\n')
      : sdp);
    m.onMessage = async (msg) => {
      if (msg.type !== 'signal' || msg.session !== session || !msg.data.sdp) return;
      const desc = { type: msg.data.type, sdp: strip(msg.data.sdp) };
      await pc.setRemoteDescription(desc);
      if (desc.type === 'offer') {
        await pc.setLocalDescription();
        send({ type: 'answer', sdp: pc.localDescription.sdp });
      }
    };
    await pc.setLocalDescription();
    send({ type: 'offer', sdp: pc.localDescription.sdp });
  }, { session, tcpOnly });
}

/// Decoded video frames and the protocol of the selected candidate pair's local candidate.
async function mediaStats(page) {
  return page.evaluate(async () => {
    const stats = await window.member.pc.getStats();
    let frames = 0;
    let protocol = null;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = stats.get(s.selectedCandidatePairId);
        protocol = stats.get(pair?.localCandidateId)?.protocol ?? null;
      }
    });
    return { frames, protocol, state: window.member.pc.connectionState };
  });
}

async function metric(name) {
  const text = await (await fetch(server.metricsUrl)).text();
  return text.split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

try {
  const teacher = await member('teacher1');
  const student = await member('student1');
  const studentId = await student.evaluate(() => window.member.welcome.user.id);
  const created = await teacher.evaluate((invite) => window.member.request({
    type: 'create_session', form: 'group', subject: 'math', title: 'ICE-TCP', invite: [invite],
  }), studentId);
  assert.equal(created.type, 'session_started', JSON.stringify(created));
  const session = created.session.id;
  const joined = await student.evaluate((session) => window.member.request({ type: 'join_session', session }), session);
  assert.equal(joined.type, 'session_started', JSON.stringify(joined));

  await startMedia(teacher, session, false);
  await startMedia(student, session, true);
  const deadline = Date.now() + 30000;
  let stats;
  for (;;) {
    stats = await mediaStats(student);
    if (stats.frames > 30 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`ice-tcp: student ${JSON.stringify(stats)}`);
  assert.ok(stats.frames > 30, `no video over TCP: ${JSON.stringify(stats)}\n${server.log()}`);
  assert.equal(stats.protocol, 'tcp');
  const overTcp = await metric('konsult_sfu_tcp_received_packets_total');
  assert.ok(overTcp > 30, `${overTcp} packets over ICE-TCP`);
  console.log(`ice-tcp: ${overTcp} packets in over TCP`);
  assert.deepEqual(teacher.errors, []);
  assert.deepEqual(student.errors, []);
  console.log(`ice-tcp: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
