// A group lesson survives the death of the node that holds its school. Three nodes share one
// PostgreSQL and one Redis (heartbeat 250 ms, lease 1 s); a teacher and two students sign in on
// the nodes that do not hold `demo` and start a group video session through the SFU, and every
// page decodes the other two members' video. A student writes in the session's chat. Then the
// node holding `demo` is killed with SIGKILL: within 10 s every page is back in the same session
// (`welcome.resumed`, the same id, members and host), decodes video from each other member again
// through the new owner's SFU, and the message written before the kill is in the session's
// thread as the new owner serves it. Prints the time from the kill to the first and to the last
// page decoding again; screenshots of every page after the recovery go to $ARTIFACTS.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startCluster, waitForFrames } from './lib.mjs';

const started = Date.now();
const step = (what) => console.log(`cluster: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
/// How soon after the kill every page must be back in the lesson.
const RECOVERY_MS = 10000;
/// How long the recovery is watched before the test gives up on it.
const WATCH_MS = 30000;
/// Frames a page must decode from a member, past its count at the kill, to count as receiving
/// that member again: more than a jitter buffer holds when the old SFU dies.
const AGAIN = 5;

// Nothing here may hang: the whole test ends (and its nodes with it) well within run.sh's 300 s.
const guard = setTimeout(() => {
  console.error('cluster: the test did not end within 240 s');
  process.exit(1);
}, 240000);

const cluster = await startCluster({ nodes: 3 });
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `cluster-${name}.png`), fullPage: true });

/// Runs in every page before its own scripts: counts every RTCPeerConnection the page makes,
/// so that frames decoded on a connection made after a reconnect add to those of the one before
/// it; `konsultTestDecoded()` gives the video frames decoded per open connection and publisher,
/// `[{peer, at, user, frames}]` (`at`: when the connection was made; the publisher read from
/// the remote description's `a=msid`: the SFU names a member's stream after its user id);
/// `konsultTestSfu()` the far end of the newest open connection's selected candidate pair;
/// `konsultTestSample()` samples that every 100 ms into `konsultTestSamples` until
/// `konsultTestStop()`.
function countPeers() {
  const Native = window.RTCPeerConnection;
  const peers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      peers.push({ pc: this, at: Date.now() });
    }
  };
  window.konsultTestDecoded = async () => {
    const out = [];
    for (const [peer, { pc, at }] of peers.entries()) {
      if (pc.signalingState === 'closed') continue;
      let stats;
      try {
        stats = await pc.getStats();
      } catch {
        continue;
      }
      const sdp = pc.remoteDescription?.sdp ?? '';
      const streams = new Map(sdp.split(/\r?\nm=/).slice(1)
        .map((section) => [/^a=mid:(\S+)/m.exec(section)?.[1], /^a=msid:(\S+)/m.exec(section)?.[1]]));
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          out.push({ peer, at, user: Number(streams.get(s.mid)), frames: s.framesDecoded ?? 0 });
        }
      });
    }
    return out;
  };
  window.konsultTestSfu = async () => {
    const last = peers.filter(({ pc }) => pc.signalingState !== 'closed').at(-1);
    if (!last) return null;
    const stats = await last.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    const remote = pair && stats.get(pair.remoteCandidateId);
    return remote ? { address: remote.address, port: remote.port, protocol: remote.protocol } : null;
  };
  let sampling = false;
  window.konsultTestSamples = [];
  window.konsultTestSample = () => {
    sampling = true;
    const tick = async () => {
      const t = Date.now();
      const decoded = await window.konsultTestDecoded();
      window.konsultTestSamples.push({ t, decoded });
      if (sampling) setTimeout(tick, 100);
    };
    tick();
  };
  window.konsultTestStop = () => {
    sampling = false;
    return window.konsultTestSamples;
  };
}

/// Video frames decoded per open peer connection and publisher (`konsultTestDecoded`).
function decodedByMember(page) {
  return page.evaluate(() => window.konsultTestDecoded());
}

/// Frames decoded from each of `users` since `baseline` (a `decodedByMember` result): on the
/// connections open then, what they decoded since; on connections made since, all they decoded.
function gained(now, baseline, users) {
  const before = new Map(baseline.map((x) => [`${x.peer}/${x.user}`, x.frames]));
  const out = Object.fromEntries(users.map((u) => [u, 0]));
  for (const x of now) {
    if (!(x.user in out)) continue;
    out[x.user] += Math.max(0, x.frames - (before.get(`${x.peer}/${x.user}`) ?? 0));
  }
  return out;
}

/// Whether a page receives each of `users` again after the kill at `killedAt` (`decoded` read
/// then, `baseline` at the kill): at least one frame from the member decoded on a connection made
/// since, or `AGAIN` more on a connection of before (a jitter buffer may still hold a frame or two
/// when the old SFU dies).
function receivesAgain(decoded, baseline, users, killedAt) {
  const before = new Map(baseline.map((x) => [`${x.peer}/${x.user}`, x.frames]));
  return users.every((user) => decoded.some((x) => x.user === user
    && (x.at > killedAt ? x.frames > 0 : x.frames - (before.get(`${x.peer}/${x.user}`) ?? 0) >= AGAIN)));
}

/// What a page shows of its session: the id, the members with their roles (from the last
/// `session_state`), whether the reconnecting banner is up, the peer connection's state.
function sessionShown(page) {
  return page.evaluate(() => {
    const el = document.querySelector('.session');
    const peer = window.konsult.peer();
    return {
      id: el ? Number(el.dataset.session) : null,
      members: (peer?.members ?? []).map((m) => ({ id: m.user.id, role: m.role })).sort((a, b) => a.id - b.id),
      offline: (peer?.members ?? []).filter((m) => !m.online).map((m) => m.user.id),
      banner: !document.getElementById('banner').hidden,
      path: peer?.path ?? null,
      connection: peer?.connection ?? null,
    };
  });
}

/// The messages of `thread` as the cluster serves them now: a connection of its own from a
/// fresh page on `url` with `token`, a `history` request, and its messages' texts.
async function history(url, token, thread) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${url}/help`);
    return await page.evaluate(({ token, thread }) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      const timer = setTimeout(() => reject(new Error('no history within 10 s')), 10000);
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token }));
      ws.onmessage = (event) => {
        const msg = JSON.parse(event.data);
        if (msg.type === 'welcome') ws.send(JSON.stringify({ type: 'history', thread, rid: 'h' }));
        if (msg.re === 'h') {
          clearTimeout(timer);
          ws.close();
          if (msg.type === 'error') reject(new Error(`history: ${msg.code} ${msg.message}`));
          else resolve(msg.messages.map((m) => m.text));
        }
      };
      ws.onerror = () => reject(new Error('the WebSocket failed'));
    }), { token, thread });
  } finally {
    await context.close();
  }
}

/// Everything a page tells about itself, for a failure's report.
async function diagnose(name, page) {
  const peer = await page.evaluate(() => window.konsult.peer()).catch((e) => String(e));
  const decoded = await decodedByMember(page).catch((e) => String(e));
  console.error(`cluster: ${name}: peer ${JSON.stringify(peer)}`);
  console.error(`cluster: ${name}: decoded ${JSON.stringify(decoded)}`);
  console.error(`cluster: ${name}: socket ${JSON.stringify(page.socketLog.slice(-30))}`);
  console.error(`cluster: ${name}: errors ${JSON.stringify(page.errors)} warnings ${JSON.stringify(page.warnings)}`);
  console.error(`cluster: ${name}: the nodes' logs are ${cluster.nodes.map((n) => join(artifacts, `cluster-${n.id}.log`)).join(', ')}`);
}

const pages = {};
try {
  const owner = cluster.owner('demo');
  assert.ok(owner, 'a node holds demo');
  const spare = cluster.nodes.filter((n) => n.id !== owner);
  assert.equal(spare.length, 2);
  step(`demo lives on ${owner}; the pages go to ${spare.map((n) => n.id).join(' and ')}`);
  const placed = { teacher: spare[0], student2: spare[1], student3: spare[0] };
  const on = { initScript: countPeers };
  pages.teacher = await loginAs(browser, placed.teacher.url, 'teacher1', on);
  pages.student2 = await loginAs(browser, placed.student2.url, 'student2', on);
  pages.student3 = await loginAs(browser, placed.student3.url, 'student3', on);
  const { teacher, student2, student3 } = pages;
  const all = Object.entries(pages);

  await teacher.selectOption('#create-form', 'group');
  await teacher.selectOption('#create-subject', 'math');
  await teacher.fill('#create-title', 'Дроби');
  await teacher.waitForSelector('#create-found:has-text("Найдено учеников: 30.")');
  await teacher.selectOption('#create-class', '9A');
  for (const [search, name] of [['ученик 2', 'Ученик 2'], ['ученик 3', 'Ученик 3']]) {
    await teacher.fill('#create-search', search);
    await teacher.press('#create-search', 'Enter');
    await teacher.getByRole('checkbox', { name: `${name} 9A`, exact: true }).check();
  }
  await teacher.waitForSelector('.chosen-count:has-text("Выбрано: 2")');
  await teacher.click('#create-submit');
  await teacher.waitForSelector('.session');
  for (const student of [student2, student3]) {
    await student.click('.invites button[data-session]', { timeout: 15000 });
    await student.waitForSelector('.session');
  }
  for (const [, page] of all) {
    await page.waitForFunction(() => document.querySelectorAll('.roster .member').length === 3
      && window.konsult.peer()?.members?.length === 3, null, { timeout: 15000 });
  }

  // Every page decodes the other two members' video through the owner's SFU.
  const before = {};
  for (const [name, page] of all) before[name] = await sessionShown(page);
  const session = before.teacher.id;
  assert.ok(session, 'the teacher shows the session');
  const members = before.teacher.members;
  assert.equal(members.length, 3);
  const host = members.find((m) => m.role === 'host')?.id;
  const me = {};
  for (const [name, page] of all) {
    assert.equal(before[name].id, session, `${name} shows the session`);
    assert.deepEqual(before[name].members, members, `${name} sees the same members`);
    assert.equal(before[name].path, 'sfu', `${name} sends through the SFU`);
    me[name] = await page.evaluate(() => Number([...document.querySelectorAll('.roster .member')]
      .find((m) => m.querySelector('.name').textContent.includes('(Я)')).dataset.user));
  }
  const others = (name) => members.map((m) => m.id).filter((id) => id !== me[name]);
  try {
    await Promise.all(all.map(([, page]) => waitForFrames(page, 0, 40000)));
    const deadline = Date.now() + 40000;
    for (const [name, page] of all) {
      for (;;) {
        const got = gained(await decodedByMember(page), [], others(name));
        if (Object.values(got).every((f) => f > AGAIN)) break;
        if (Date.now() > deadline) throw new Error(`${name} decodes no video from some members: ${JSON.stringify(got)}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } catch (err) {
    for (const [name, page] of all) await diagnose(name, page);
    throw err;
  }
  const victim = cluster.nodes.find((n) => n.id === owner);
  for (const [name, page] of all) {
    const sfu = await page.evaluate(() => window.konsultTestSfu());
    assert.equal(sfu?.port, victim.mediaPort, `${name} reaches ${owner}'s SFU: ${JSON.stringify(sfu)}`);
  }
  step(`session ${session}: every page decodes the others' video through ${owner}'s SFU`);

  // A message in the session's chat before the kill, acknowledged (it has its seq).
  const text = `До отказа узла: ${Date.now()}`;
  await student2.fill('.session .chat-text', text);
  await student2.click('.session .chat-send');
  await student2.waitForSelector(`.session .message:not(.pending):has-text("${text}")`, { timeout: 10000 });
  await teacher.waitForSelector(`.session .message:has-text("${text}")`, { timeout: 10000 });
  const thread = await student2.evaluate(() => Number(/^t(\d+)-text$/.exec(document.querySelector('.session .chat-text').id)[1]));

  // The kill.
  const baseline = {};
  const framesAtKill = {};
  for (const [name, page] of all) {
    baseline[name] = await decodedByMember(page);
    framesAtKill[name] = gained(baseline[name], [], others(name));
  }
  const killedAt = Date.now();
  victim.kill('SIGKILL');
  step(`killed ${owner} (pid ${victim.pid}); frames decoded at the kill: ${JSON.stringify(framesAtKill)}`);

  // Watch every page until it is back: a welcome after the kill, the session on screen without
  // the banner, and video from each other member again. Each page samples its decoded frames
  // every 100 ms itself, so that the times below are those of the page, not of this loop.
  await Promise.all(all.map(([, page]) => page.evaluate(() => window.konsultTestSample())));
  const back = {};
  const last = {};
  const watchUntil = killedAt + WATCH_MS;
  while (Date.now() < watchUntil && Object.keys(back).length < all.length) {
    await Promise.all(all.map(async ([name, page]) => {
      if (back[name]) return;
      const welcome = page.socketLog.find((x) => x.type === 'welcome' && x.at > killedAt);
      const told = page.socketLog.find((x) => x.type === 'session_started' && x.session === session && x.at > killedAt);
      const shown = await sessionShown(page);
      const decoded = await decodedByMember(page);
      last[name] = { welcome: welcome ?? null, told: told ?? null, shown, got: gained(decoded, baseline[name], others(name)) };
      if (welcome && told && shown.id === session && !shown.banner && receivesAgain(decoded, baseline[name], others(name), killedAt)) {
        back[name] = { welcome, told };
      }
    }));
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const [name, page] of all) {
    const samples = await page.evaluate(() => window.konsultTestStop());
    const b = back[name];
    if (!b) {
      console.error(`cluster: ${name} NOT back ${WATCH_MS} ms after the kill: ${JSON.stringify(last[name])}`);
      continue;
    }
    const first = samples.find((x) => receivesAgain(x.decoded, baseline[name], others(name), killedAt));
    b.decodingAt = (first?.t ?? Date.now()) - killedAt;
    b.at = Math.max(b.decodingAt, b.welcome.at - killedAt, b.told.at - killedAt);
    step(`${name} back ${b.at} ms after the kill: welcome at ${b.welcome.at - killedAt} ms (resumed ${b.welcome.resumed}), `
      + `session_started at ${b.told.at - killedAt} ms, video from every other member at ${b.decodingAt} ms; `
      + `frames since the kill ${JSON.stringify(gained(samples.at(-1).decoded, baseline[name], others(name)))}`);
  }
  const newOwner = cluster.owner('demo');
  step(`demo now lives on ${newOwner}`);
  if (Object.keys(back).length < all.length || Object.values(back).some((b) => b.at > RECOVERY_MS)) {
    for (const [name, page] of all) await diagnose(name, page);
  }
  for (const [name, page] of all) await shot(page, name);
  const times = Object.values(back).map((b) => b.decodingAt);
  if (times.length) step(`from the kill to the first page decoding again: ${Math.min(...times)} ms, to the last: ${Math.max(...times)} ms`);

  assert.notEqual(newOwner, owner, 'another node holds demo');
  const heir = cluster.nodes.find((n) => n.id === newOwner);
  assert.ok(heir?.alive(), `demo is held by a live node (${newOwner})`);
  const gainedAt = [...heir.log().matchAll(/^(\S+) .*school gained: its hub starts school=demo epoch=(\d+)/gm)].at(-1);
  if (gainedAt) step(`${newOwner} started demo's hub under epoch ${gainedAt[2]} ${Date.parse(gainedAt[1]) - killedAt} ms after the kill`);
  for (const [name, page] of all) {
    assert.ok(back[name], `${name} is back in the lesson`);
    assert.ok(back[name].at <= RECOVERY_MS, `${name} is back within ${RECOVERY_MS} ms (${back[name].at} ms)`);
    assert.equal(back[name].welcome.resumed, true, `${name} resumed`);
    const told = page.socketLog.filter((x) => x.at > killedAt && x.at <= back[name].welcome.at)
      .map((x) => (x.type === 'close' ? `close ${x.code} at ${x.at - killedAt} ms` : x.type));
    step(`${name}: after the kill ${told.join(', ')}`);
    const sfu = await page.evaluate(() => window.konsultTestSfu());
    assert.equal(sfu?.port, heir.mediaPort, `${name} reaches ${newOwner}'s SFU: ${JSON.stringify(sfu)}`);
    // The session as the new owner describes it, in a state the page took (a version above
    // every one it saw before the kill), with every member back online.
    const versions = page.socketLog.filter((x) => x.type === 'session_state' && x.session === session);
    const seen = Math.max(...versions.filter((x) => x.at < killedAt).map((x) => x.version));
    assert.ok(versions.some((x) => x.at > killedAt && x.version > seen), `${name} took a session_state of the new owner: ${JSON.stringify(versions)}`);
    await page.waitForFunction(() => window.konsult.peer()?.members?.every((m) => m.online), null, { timeout: 5000 })
      .catch(() => {});
    const after = await sessionShown(page);
    assert.deepEqual(after.offline, [], `${name} sees every member online`);
    assert.equal(after.id, session, `${name} shows the same session`);
    assert.deepEqual(after.members, members, `${name} sees the same members and host`);
    assert.equal(after.members.find((m) => m.role === 'host')?.id, host);
    assert.ok(page.socketLog.some((x) => x.type === 'session_started' && x.session === session && x.at > killedAt), `${name} was told of the session again`);
    assert.ok(await page.locator(`.session .message:has-text("${text}")`).count() === 1, `${name} still shows the message`);
  }
  // The thread as the new owner serves it holds the message written before the kill.
  const token = await teacher.evaluate(() => sessionStorage.getItem('konsult.token'));
  const texts = await history(placed.teacher.url, token, thread);
  assert.ok(texts.includes(text), `the thread holds the message written before the kill: ${JSON.stringify(texts)}`);

  for (const [name, page] of all) assert.deepEqual(page.errors, [], `${name}'s page errors`);
  console.log(`cluster: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  clearTimeout(guard);
  await browser.close().catch(() => {});
  cluster.stop();
}
