//! A session on screen: own and others' video, microphone and camera toggles, device choice,
//! screen share, raised hands, the roster with the host's and co-hosts' moderation, polls
//! (`polls.js`), and the session's chat.
//! Media goes peer-to-peer in individual sessions and moves to the SFU when the session does.

import { h, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { LocalMedia, PeerLink } from './media.js';
import { ThreadPanel } from './chat.js';
import { Stage } from './stage.js';
import { PollPanel } from './polls.js';

/// How long an SFU screen tile shows without a new frame.
const SCREEN_QUIET_MS = 5000;
/// How often a direct link that has not connected is looked at (doubling after each renewal),
/// and how many times at most it is negotiated afresh (`watchDirect`); the hub's own fallback
/// to the SFU comes later.
const DIRECT_CHECK_MS = 3000;
const DIRECT_RENEWALS = 3;

export class SessionView {
  constructor(app, session, onClose) {
    this.app = app;
    this.session = session;
    this.id = session.id;
    this.onClose = onClose;
    this.state = null;
    this.local = new LocalMedia();
    this.link = null;
    this.linkPath = null;
    this.remotes = new Map();
    this.reported = null;
    /// Signals that came before the camera and microphone were open, replayed after.
    this.early = [];
    this.ready = false;
    this.el = h('section', { class: 'session', 'aria-labelledby': 'session-heading', 'data-session': session.id });
    this.chat = new ThreadPanel(app, session.thread, { title: t('chat.heading') });
    this.polls = session.form === 'individual' ? null : new PollPanel(app, this);
    this.unsubscribe = [
      app.conn.on('session_state', (m) => this.onState(m)),
      app.conn.on('signal', (m) => this.onSignal(m)),
      app.conn.on('welcome', () => this.renegotiate()),
    ];
    this.local.on((kind) => {
      this.reportOff();
      this.renderControls();
      this.link?.refresh(this.local, { publish: this.publishing });
      if (kind === 'video') this.renderLocalPreview();
      if (kind === 'screen') this.renderLocalScreen();
    });
    this.rerender();
  }

  get me() {
    return this.app.user.id;
  }

  get isHost() {
    return this.session.host === this.me;
  }

  /// The host or a co-host: moderates the others.
  get isModerator() {
    return this.isHost || Boolean(this.state?.cohosts?.includes(this.me));
  }

  /// Asks and closes polls: the host, or a co-host who is not a student.
  get steersPolls() {
    return this.session.form !== 'individual' && (this.isHost || (this.isModerator && this.app.user.role !== 'student'));
  }

  /// A member's name, for the named votes of a poll.
  nameOf(id) {
    return this.state?.members.find((m) => m.user.id === id)?.user.name ?? String(id);
  }

  get mediaPath() {
    return this.state?.media ?? this.session.media;
  }

  /// In a frontal session only the host and the floor holder are heard (and seen by all).
  get publishing() {
    return this.session.form !== 'frontal' || this.isHost || this.state?.floor === this.me;
  }

  /// A frontal session's student sends the camera without the floor too: the SFU forwards it
  /// to the host alone, or to the class when the host shows it (`cameras` in the state).
  get sendsCamera() {
    return this.publishing || this.session.form === 'frontal';
  }

  /// What this page sends, by kind (see `PeerLink.attach`).
  get sends() {
    return { audio: this.publishing, video: this.sendsCamera, screen: this.publishing };
  }

  /// Who sees a frontal session's students' cameras: `host` (the default) or `class`.
  get cameras() {
    return this.state?.cameras ?? (this.session.form === 'frontal' ? 'host' : 'class');
  }

  get others() {
    const members = this.state ? this.state.members.map((m) => m.user) : this.session.members;
    return members.filter((u) => u.id !== this.me);
  }

  async start() {
    const ok = await this.local.open();
    if (!ok) this.notice(t('session.no_media'));
    this.localVideo.srcObject = this.localPreview();
    await this.fillDevices();
    this.ready = true;
    this.connectMedia();
    for (const m of this.early.splice(0)) this.onSignal(m);
  }

  /// The own camera's preview: empty while the camera is not sent, so the screen does not
  /// suggest others see it.
  localPreview() {
    const track = this.sendsCamera ? this.local.video : null;
    return track ? new MediaStream([track]) : null;
  }

  /// Points the own tile at the camera when it changed or publishing started or stopped.
  renderLocalPreview() {
    if (!this.localVideo) return;
    const track = this.sendsCamera ? this.local.video : null;
    if ((this.localVideo.srcObject?.getVideoTracks()[0] ?? null) === track) return;
    this.localVideo.srcObject = this.localPreview();
  }

  /// The user's own screen while they share it, beside their camera.
  renderLocalScreen() {
    const track = this.local.screen;
    if (!track) {
      this.localScreenTile?.remove();
      this.localScreenTile = null;
      return;
    }
    const video = h('video', { autoplay: true, playsInline: true, muted: true });
    video.srcObject = new MediaStream([track]);
    this.localScreenTile?.remove();
    this.localScreenTile = h('figure', { class: 'tile local-screen' }, video, h('figcaption', {}, t('session.screen.mine')));
    this.stage.addOwn(this.localScreenTile);
  }

  /// Builds the peer connection for the session's current media path.
  connectMedia() {
    if (this.closed || !this.ready) return;
    const path = this.mediaPath;
    if (this.link && this.linkPath === path) return;
    this.link?.close();
    this.clearRemotes();
    let to;
    let polite;
    if (path === 'p2p') {
      const peer = this.others[0];
      if (!peer) return;
      to = peer.id;
      polite = this.me > peer.id;
    } else {
      // The SFU yields when both sides offer at once (docs/protocol.md, Media).
      to = 'sfu';
      polite = false;
    }
    this.linkPath = path;
    this.reported = null;
    this.link = new PeerLink({
      iceServers: this.app.conn.welcome?.ice_servers,
      polite,
      send: (data) => this.app.conn.send({ type: 'signal', session: this.id, to, data }),
      onTrack: (track, streams, transceiver) => this.addRemote(track, streams, transceiver),
      onState: (state) => this.onLinkState(state),
    });
    this.link.attach(this.local, { publish: this.sends, sfu: path === 'sfu' });
    if (path === 'p2p') this.watchDirect(this.link);
    // A new link to the SFU (another node's, after a move) knows no view yet.
    if (path === 'sfu' && this.stage?.view) this.sendView();
  }

  /// Tells the SFU whose video this page shows (`media_view`): on a session through the SFU
  /// with more cameras than fit, the tiles on screen only.
  sendView() {
    if (this.linkPath !== 'sfu' || this.closed) return;
    this.app.conn.request({ type: 'media_view', session: this.id, video: this.stage.view }).catch(() => {});
  }

  /// A direct link that is not connected and made no progress for a whole check (no new
  /// signaling or connection state, no connectivity check answered: an offer, answer or the
  /// candidates lost on the way, or candidates that lead nowhere) is negotiated afresh, a few
  /// times, each wait twice the last: otherwise both sides would wait until the hub moves the
  /// session to the SFU. The side whose offers win renews first; the other side renews only
  /// when the link stood still for two checks, so that a link stuck on one side alone still
  /// recovers. A link that moves, however slowly (a phone still answering, candidates being
  /// checked), is left alone: renewing it would throw its progress away.
  async watchDirect(link) {
    let renewals = 0;
    let wait = DIRECT_CHECK_MS;
    let still = 0;
    let seen = await link.progress();
    const check = async () => {
      if (this.closed || this.link !== link || link.closed) return;
      if (link.pc.connectionState === 'connected' || renewals === DIRECT_RENEWALS) return;
      const now = await link.progress();
      still = now === seen ? still + 1 : 0;
      if (still >= (link.polite ? 2 : 1)) {
        renewals += 1;
        still = 0;
        wait *= 2;
        await link.renew();
      }
      seen = await link.progress();
      setTimeout(check, wait);
    };
    setTimeout(check, wait);
  }

  onLinkState(state) {
    if (state === 'failed' && this.linkPath === 'p2p') {
      this.app.conn.request({ type: 'media_failed', session: this.id }).catch(() => {});
      return;
    }
    if (this.linkPath === 'sfu') {
      // The SFU tracks members' media itself; a lost link offers again from a new connection.
      if (state === 'failed') setTimeout(() => this.renegotiate(), 2000);
      return;
    }
    if (state === this.reported) return;
    this.reported = state;
    this.app.conn.send({ type: 'media_state', session: this.id, state });
  }

  /// After a reconnect, signals sent meanwhile are lost: negotiate again.
  renegotiate() {
    if (!this.link) return;
    if (this.linkPath === 'sfu') {
      this.link.close();
      this.link = null;
      this.connectMedia();
    } else if (this.link.pc.connectionState !== 'connected') {
      this.link.restartIce();
    }
  }

  onSignal(m) {
    if (m.session !== this.id) return;
    if (!this.ready) {
      this.early.push(m);
      return;
    }
    const fromSfu = m.from === 'sfu';
    if (fromSfu && this.mediaPath !== 'sfu') {
      // The hub moved the session to the SFU before its snapshot reached us.
      this.state = { ...(this.state ?? {}), media: 'sfu', members: this.state?.members ?? [] };
    }
    if (!this.link || this.linkPath !== (fromSfu ? 'sfu' : 'p2p')) this.connectMedia();
    this.link?.receive(m.data);
  }

  /// A remote track: into the tile of its publisher's camera and microphone, or into a tile of
  /// its own for a screen share, shown first and wide.
  addRemote(track, streams, transceiver) {
    const stream = streams[0] ?? new MediaStream([track]);
    const screen = Boolean(transceiver && this.link?.isScreen(transceiver));
    const base = this.linkPath === 'p2p' ? `user-${this.others[0]?.id}` : stream.id;
    const key = screen ? `${base}-screen` : base;
    let remote = this.remotes.get(key);
    if (!remote) {
      const video = h('video', { autoplay: true, playsInline: true, class: 'remote-video' });
      const label = h('figcaption', {}, this.remoteLabel(stream.id, screen));
      remote = { video, label, screen, stream: new MediaStream(), tile: h('figure', { class: `tile remote${screen ? ' screen' : ''}`, 'data-stream': stream.id }, video, label) };
      if (screen) video.muted = true;
      this.remotes.set(key, remote);
      this.stage.add(key, remote, { user: this.userOf(stream.id), screen });
    }
    if (track.kind === 'audio' && !screen) this.stage.listen(key, track);
    remote.stream.getTracks().filter((x) => x.kind === track.kind).forEach((x) => remote.stream.removeTrack(x));
    remote.stream.addTrack(track);
    remote.video.srcObject = remote.stream;
    const drop = () => {
      if (!remote.stream.getTracks().includes(track)) return;
      remote.stream.removeTrack(track);
      if (remote.stream.getTracks().length === 0 && this.remotes.get(key) === remote) {
        this.remotes.delete(key);
        this.stage.remove(key);
      }
    };
    track.addEventListener('ended', drop);
    stream.addEventListener?.('removetrack', (e) => {
      if (e.track === track) drop();
    });
    if (screen && this.linkPath === 'sfu') {
      // Shown once frames arrive; a stopped share is renegotiated away, and a share that
      // only stopped sending (a still screen, a client that did not renegotiate) hides.
      remote.mid = transceiver.mid;
      remote.tile.hidden = true;
      this.watchScreens();
    }
  }

  /// Shows the SFU's screen tiles while their frames advance and hides them after
  /// `SCREEN_QUIET_MS` without one (the share stopped, or a still screen sent nothing new);
  /// the next frame shows it again.
  watchScreens() {
    if (this.screenWatch) return;
    const seen = new Map();
    this.screenWatch = setInterval(async () => {
      const watched = [...this.remotes.values()].filter((r) => r.screen && r.mid !== undefined);
      if (this.closed || !this.link || watched.length === 0) return;
      let inbound;
      try {
        inbound = await this.link.videoInbound();
      } catch {
        return;
      }
      const now = Date.now();
      for (const remote of watched) {
        const frames = inbound.find((s) => s.mid === remote.mid)?.frames ?? 0;
        const last = seen.get(remote);
        if (!last || frames > last.frames) seen.set(remote, { frames, at: now });
        const moving = frames > 0 && now - (seen.get(remote).at) < SCREEN_QUIET_MS;
        if (remote.tile.hidden === moving) {
          remote.tile.hidden = !moving;
          this.stage.layout();
        }
      }
    }, 1000);
  }

  /// Whose a remote stream is: the peer's in a peer-to-peer session; in the SFU the stream id
  /// carries the publisher's user id.
  userOf(streamId) {
    if (this.linkPath === 'p2p') return this.others[0]?.id ?? null;
    const digits = /(\d+)/.exec(streamId ?? '');
    return digits ? Number(digits[1]) : null;
  }

  /// Names a remote stream after its publisher.
  remoteLabel(streamId, screen = false) {
    const user = this.userOf(streamId);
    const name = this.others.find((u) => u.id === user)?.name ?? '';
    return screen ? t('session.screen.of', { name }) : name;
  }

  clearRemotes() {
    this.remotes.clear();
    this.stage?.clear();
  }

  /// Tells the others what this member switched off (microphone, camera), when it changed.
  reportOff() {
    const off = [];
    if (!this.local.micOn) off.push('audio');
    if (!this.local.camOn) off.push('video');
    const mark = off.join();
    if (mark === (this.reportedOff ?? '')) return;
    this.reportedOff = mark;
    this.app.conn.send({ type: 'media_state', session: this.id, off });
  }

  onState(m) {
    if (m.session !== this.id) return;
    if (this.state && m.version <= this.state.version) return;
    const before = this.state;
    this.state = m;
    m.members.forEach((x) => this.app.learn(x.user));
    const mine = m.members.find((x) => x.user.id === this.me);
    if (mine?.muted?.length) {
      for (const kind of mine.muted) {
        if (!before?.members.find((x) => x.user.id === this.me)?.muted?.includes(kind)) {
          this.notice(t('session.you_muted', { kind: t('kind.' + kind) }));
          if (kind === 'audio') this.local.setMic(false);
          if (kind === 'video') this.local.setCam(false);
          if (kind === 'screen') this.local.stopScreen();
        }
      }
    }
    if (m.floor === this.me && before?.floor !== this.me) this.notice(t('session.you_have_floor'));
    if (before && before.media !== m.media && m.media === 'sfu') this.notice(t('session.moved_sfu'));
    if (this.link) this.link.refresh(this.local, { publish: this.sends });
    if (this.linkPath !== this.mediaPath || !this.link) this.connectMedia();
    for (const remote of this.remotes.values()) {
      if (this.linkPath === 'sfu') remote.label.textContent = this.remoteLabel(remote.tile.dataset.stream, remote.screen);
    }
    this.renderHeading();
    this.renderRoster();
    this.renderControls();
    this.renderLocalPreview();
    this.renderStage();
    if (Boolean(before?.cohosts?.includes(this.me)) !== Boolean(m.cohosts?.includes(this.me))) this.polls?.render();
  }

  /// What the tiles show of the members: switched-off microphones, raised hands, the host.
  renderStage() {
    const members = this.state ? this.state.members : this.session.members.map((user) => ({ user }));
    this.stage.setMembers({ members, hands: this.state?.hands ?? [], host: this.session.host, form: this.session.form, me: this.me });
  }

  /// A new `session_started` for the open session (a reconnect): refresh what it says.
  update(session) {
    this.session = session;
    this.renderHeading();
    if (!this.link) this.connectMedia();
  }

  ended(m) {
    if (m.session !== this.id) return;
    this.app.announce(t('session.ended.' + m.reason), true);
    this.close();
    this.onClose(t('session.ended.' + m.reason));
  }

  notice(text) {
    this.noticeEl.textContent = text;
    this.app.announce(text);
  }

  async fillDevices() {
    const devices = await LocalMedia.devices();
    const fill = (select, kind, current) => {
      const list = devices.filter((d) => d.kind === kind);
      replace(select, list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind} ${i + 1}`)));
      select.disabled = list.length < 2;
    };
    fill(this.micSelect, 'audioinput', this.local.audio?.getSettings().deviceId);
    fill(this.camSelect, 'videoinput', this.local.video?.getSettings().deviceId);
  }

  async chooseDevice(kind, deviceId) {
    const constraints = kind === 'audio' ? { audio: { deviceId: { exact: deviceId } } } : { video: { deviceId: { exact: deviceId } } };
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      const track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
      this.local.replace(kind, track);
    } catch (err) {
      this.notice(this.app.errorText(err));
    }
  }

  async toggleScreen() {
    try {
      if (this.local.screen) this.local.stopScreen();
      else await this.local.shareScreen();
    } catch {
      // The user cancelled the picker.
    }
  }

  async act(msg) {
    try {
      await this.app.conn.request({ ...msg, session: this.id });
    } catch (err) {
      this.notice(this.app.errorText(err));
    }
  }

  renderHeading() {
    if (!this.headingEl) return;
    const s = this.session;
    replace(this.headingEl,
      t('session.heading', { form: t('form.' + s.form), title: s.title || subjectName(s.subject) }), ' ',
      h('small', { class: 'media-path' }, `(${t('session.media.' + this.mediaPath)})`));
  }

  /// The session's buttons. Without the floor in a frontal session the microphone (and screen)
  /// show off and unavailable, with the reason beside them; the camera works, with who sees it.
  renderControls() {
    if (!this.controls) return;
    const hands = this.state?.hands ?? [];
    const handUp = hands.includes(this.me);
    const publishing = this.publishing;
    const button = (attrs, label) => h('button', { type: 'button', ...attrs }, label);
    const toggle = (kind, on, label, flip) => {
      if (!publishing && !(kind === 'cam' && this.sendsCamera)) {
        return button({
          class: `toggle ${kind}`, 'aria-pressed': 'false', 'aria-disabled': 'true', 'aria-describedby': 'no-floor',
          onclick: () => this.notice(t('session.no_floor')),
        }, label);
      }
      return button({ class: `toggle ${kind}${on ? ' on' : ''}`, 'aria-pressed': String(on), onclick: flip }, label);
    };
    replace(this.controls,
      toggle('mic', this.local.micOn, t('session.mic'), () => this.local.setMic(!this.local.micOn)),
      toggle('cam', this.local.camOn, t('session.camera'), () => this.local.setCam(!this.local.camOn)),
      navigator.mediaDevices?.getDisplayMedia
        ? button({
          class: 'screen', 'aria-pressed': String(Boolean(this.local.screen)),
          'aria-disabled': publishing || this.local.screen ? null : 'true', 'aria-describedby': publishing ? null : 'no-floor',
          onclick: () => (publishing || this.local.screen ? this.toggleScreen() : this.notice(t('session.no_floor'))),
        }, this.local.screen ? t('session.screen.stop') : t('session.screen'))
        : null,
      this.isHost && this.session.form === 'frontal'
        ? button({
          class: 'show-cameras', 'aria-pressed': String(this.cameras === 'class'),
          onclick: () => this.act({ type: 'show_cameras', to: this.cameras === 'class' ? 'host' : 'class' }),
        }, t('session.cameras.class_toggle'))
        : null,
      this.isHost ? null : button({ class: 'hand', 'aria-pressed': String(handUp), onclick: () => this.act({ type: handUp ? 'lower_hand' : 'raise_hand' }) }, handUp ? t('session.hand.lower') : t('session.hand')),
      this.isHost && this.session.form !== 'individual'
        ? button({ class: 'danger end', onclick: () => this.act({ type: 'end_session' }) }, t('session.end'))
        : null,
      button({ class: 'leave', onclick: () => this.leave() }, this.isHost && this.session.form === 'individual' ? t('session.end') : t('session.leave')),
      publishing ? null : h('p', { id: 'no-floor', class: 'no-floor' }, t('session.no_floor')),
      publishing ? null : h('p', { class: 'camera-audience', role: 'status' },
        t(this.cameras === 'class' ? 'session.cameras.seen_by_class' : 'session.cameras.seen_by_host')));
  }

  async leave() {
    await this.act({ type: 'leave_session' });
    this.close();
    this.onClose('');
  }

  renderRoster() {
    if (!this.rosterEl) return;
    const state = this.state;
    const members = state ? state.members : this.session.members.map((user) => ({ user, role: user.id === this.session.host ? 'host' : 'member', online: true, media: 'connecting' }));
    const hands = state?.hands ?? [];
    const cohosts = state?.cohosts ?? [];
    const items = members.map((m) => {
      const id = m.user.id;
      const muted = m.muted ?? [];
      const cohost = cohosts.includes(id);
      const badges = [
        m.role === 'host' ? t('role.teacher') : null,
        cohost ? t('session.cohost') : null,
        state?.floor === id ? t('session.floor') : null,
        hands.includes(id) ? t('session.hand.raised') : null,
        m.online ? t('session.media.' + m.media) : t('session.offline'),
        muted.length ? t('session.muted', { kinds: muted.map((k) => t('kind.' + k)).join(', ') }) : null,
      ].filter(Boolean);
      const controls = this.isModerator && id !== this.me && id !== this.session.host ? h('span', { class: 'moderation' },
        this.isHost && this.session.form !== 'individual'
          ? h('button', { type: 'button', class: 'cohost', 'aria-pressed': String(cohost), onclick: () => this.act({ type: 'set_cohost', user: id, cohost: !cohost }) }, cohost ? t('session.cohost.revoke') : t('session.cohost.make'))
          : null,
        state?.floor === id
          ? h('button', { type: 'button', class: 'revoke-floor', onclick: () => this.act({ type: 'revoke_floor' }) }, t('session.revoke_floor'))
          : h('button', { type: 'button', class: 'give-floor', onclick: () => this.act({ type: 'grant_floor', user: id }) }, t('session.give_floor')),
        hands.includes(id) ? h('button', { type: 'button', onclick: () => this.act({ type: 'lower_hand', user: id }) }, t('session.hand.lower')) : null,
        muted.includes('audio')
          ? h('button', { type: 'button', onclick: () => this.act({ type: 'unmute', user: id, kind: 'audio' }) }, t('session.unmute'))
          : h('button', { type: 'button', onclick: () => this.act({ type: 'mute', user: id, kind: 'audio' }) }, t('session.mute_audio')),
        muted.includes('video')
          ? h('button', { type: 'button', onclick: () => this.act({ type: 'unmute', user: id, kind: 'video' }) }, t('session.unmute'))
          : h('button', { type: 'button', onclick: () => this.act({ type: 'mute', user: id, kind: 'video' }) }, t('session.mute_video')),
        h('button', { type: 'button', class: 'danger', onclick: () => this.act({ type: 'remove_member', user: id }) }, t('session.remove'))) : null;
      return h('li', { class: `member${hands.includes(id) ? ' hand-up' : ''}`, 'data-user': id, 'aria-label': [m.user.name, ...badges].join(', ') },
        h('span', { class: 'name' }, id === this.me ? `${m.user.name} (${t('session.me')})` : m.user.name), ' ',
        h('span', { class: 'badges' }, badges.join(' · ')), controls);
    });
    replace(this.rosterEl, h('h3', {}, t('session.roster', { total: state?.total ?? members.length })), h('ul', { class: 'roster-list' }, items));
  }

  rerender() {
    this.headingEl = h('h2', { id: 'session-heading' });
    this.noticeEl = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
    this.localVideo ??= h('video', { autoplay: true, playsInline: true, muted: true, class: 'local-video' });
    this.localVideo.muted = true;
    this.stage ??= new Stage(this.localVideo);
    this.stage.onView = () => this.sendView();
    this.videos = this.stage.el;
    this.micSelect ??= h('select', { id: 'mic-select', onchange: (e) => this.chooseDevice('audio', e.target.value) });
    this.camSelect ??= h('select', { id: 'cam-select', onchange: (e) => this.chooseDevice('video', e.target.value) });
    this.controls = h('div', { class: 'controls', role: 'toolbar', 'aria-label': t('session.mic') + ', ' + t('session.camera') });
    this.rosterEl = h('section', { class: 'roster', 'aria-live': 'polite' });
    this.chat.render();
    replace(this.el,
      this.headingEl, this.noticeEl,
      h('div', { class: 'session-layout' },
        h('div', { class: 'stage' }, this.videos, this.controls,
          h('div', { class: 'devices' },
            h('label', { for: 'mic-select' }, t('session.mic')), this.micSelect,
            h('label', { for: 'cam-select' }, t('session.camera')), this.camSelect)),
        h('div', { class: 'side' }, this.polls?.el, this.rosterEl, this.chat.el)));
    this.polls?.render();
    this.renderHeading();
    this.renderControls();
    this.renderRoster();
    // Tiles stay (their videos keep playing); their captions follow the language.
    for (const remote of this.remotes.values()) remote.label.textContent = this.remoteLabel(remote.tile.dataset.stream, remote.screen);
    this.renderStage();
    this.stage.relabel();
    if (this.local.screen) this.renderLocalScreen();
  }

  async framesDecoded() {
    return this.link ? this.link.framesDecoded() : 0;
  }

  async videoInbound() {
    return this.link ? this.link.videoInbound() : [];
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.screenWatch);
    this.unsubscribe.forEach((off) => off());
    this.polls?.close();
    this.chat.close();
    this.link?.close();
    this.link = null;
    this.local.close();
    this.clearRemotes();
    this.stage.close();
  }
}
