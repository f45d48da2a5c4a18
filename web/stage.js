//! The video stage of a session: which tile is large (a shared screen, else the member pinned,
//! else the active speaker, else the host of a frontal session, else the first), the others in
//! a strip that fits the screen, the self view small and mirrored in a corner, names, a
//! switched-off or muted microphone and a raised hand on the tiles, pinning and full screen.
//! The active speaker comes from the page's own WebAudio measure of each remote microphone
//! (`SpeakerMeter`): it works the same peer to peer and through the SFU, at no cost to the
//! server.

import { h, replace } from './dom.js';
import { t } from './i18n.js';

/// How often the microphones' levels are read.
const SPEAKER_POLL_MS = 200;
/// How long another member must stay the loudest before the stage turns to them: a cough does
/// not move the picture.
const SPEAKER_HOLD_MS = 800;
/// The level (RMS of the waveform, 0 to 1) above which a member counts as speaking.
const SPEAKING_LEVEL = 0.015;
/// How much of a level is left after one poll without sound.
const LEVEL_FALL = 0.8;

/// Levels of remote microphones, from an `AnalyserNode` each, and who speaks: the loudest above
/// `SPEAKING_LEVEL` once they led for `SPEAKER_HOLD_MS`. The speaker stays until another leads.
export class SpeakerMeter {
  constructor(onSpeaker) {
    this.onSpeaker = onSpeaker;
    this.sources = new Map();
    this.speaker = null;
    this.leader = null;
    this.leaderSince = 0;
    this.levels = {};
    this.context = null;
    this.timer = null;
  }

  /// Starts measuring `track` (a remote audio track) under `key`, in place of what was there.
  watch(key, track) {
    this.unwatch(key);
    try {
      this.context ??= new AudioContext();
      // A context made without a user gesture starts suspended; the next click resumes it.
      if (this.context.state === 'suspended') {
        this.context.resume().catch(() => {});
        document.addEventListener('click', () => this.context?.resume().catch(() => {}), { once: true });
      }
      const source = this.context.createMediaStreamSource(new MediaStream([track]));
      const analyser = this.context.createAnalyser();
      analyser.fftSize = 2048;
      source.connect(analyser);
      this.sources.set(key, { source, analyser, samples: new Float32Array(analyser.fftSize) });
    } catch {
      return; // No WebAudio: no active speaker, the rest of the stage still works.
    }
    this.timer ??= setInterval(() => this.poll(), SPEAKER_POLL_MS);
  }

  unwatch(key) {
    const entry = this.sources.get(key);
    if (!entry) return;
    entry.source.disconnect();
    this.sources.delete(key);
    delete this.levels[key];
    if (this.speaker === key) {
      this.speaker = null;
      this.onSpeaker(null);
    }
  }

  poll() {
    let loudest = null;
    let top = SPEAKING_LEVEL;
    for (const [key, { analyser, samples }] of this.sources) {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      // Held and let fall slowly: the pauses between words do not make a speaker silent.
      const level = Math.max(Math.sqrt(sum / samples.length), (this.levels[key] ?? 0) * LEVEL_FALL);
      this.levels[key] = level;
      if (level > top) {
        top = level;
        loudest = key;
      }
    }
    const now = performance.now();
    if (loudest !== this.leader) {
      this.leader = loudest;
      this.leaderSince = now;
    }
    if (loudest && loudest !== this.speaker && now - this.leaderSince >= SPEAKER_HOLD_MS) {
      this.speaker = loudest;
      this.onSpeaker(loudest);
    }
  }

  close() {
    clearInterval(this.timer);
    this.timer = null;
    for (const key of [...this.sources.keys()]) this.unwatch(key);
    this.context?.close().catch(() => {});
    this.context = null;
  }
}

/// Icons as SVG paths on a 24-unit square, drawn in the text's colour: no icon font, no emoji
/// a phone may lack.
const MIC_OFF = 'M12 3a3 3 0 0 0-3 3v5a3 3 0 0 0 4.6 2.5L8.1 8 M15 10V6a3 3 0 0 0-5.4-1.8 M5 11a7 7 0 0 0 11.5 5.4 M19 11a7 7 0 0 1-.7 3 M12 18v3 M3 3l18 18';
const HAND = 'M8 13V5.5a1.5 1.5 0 0 1 3 0V12 M11 11V4a1.5 1.5 0 0 1 3 0v7 M14 11V5.5a1.5 1.5 0 0 1 3 0V13 M17 9.5a1.5 1.5 0 0 1 3 0V15a7 7 0 0 1-7 7h-1a7 7 0 0 1-5.7-3L4 15.5a1.5 1.5 0 0 1 2.5-1.7L8 16';

function icon(path) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS(ns, 'path');
  line.setAttribute('d', path);
  svg.append(line);
  return svg;
}

/// Up to this many other members' cameras, every video is received; beyond, only the tiles on
/// screen (the large one and those visible in the strip), so that a class on phones does not
/// decode thirty videos (`media_view`, docs/protocol.md). A test may lower it through
/// `localStorage['konsult.view_all']`.
const VIEW_ALL = Number(localStorage.getItem('konsult.view_all') ?? 8);

export class Stage {
  /// `localVideo` is the self view's video element.
  constructor(localVideo) {
    this.tiles = new Map();
    this.pinned = null;
    this.speaker = null;
    this.members = [];
    this.hands = [];
    this.host = null;
    this.form = null;
    this.me = null;
    /// Strip tiles on screen, by key; the video asked for (`null`: everyone's).
    this.visible = new Set();
    this.view = null;
    /// Told of each new view: `(users | null)`.
    this.onView = null;
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const key = e.target.dataset.key;
        if (e.isIntersecting) this.visible.add(key);
        else this.visible.delete(key);
      }
      this.viewChanged();
    }, { threshold: 0.01 });
    this.meter = new SpeakerMeter((key) => {
      this.speaker = key;
      this.layout();
    });
    this.localCaption = h('figcaption', {}, t('session.me'));
    this.localStatus = h('span', { class: 'tile-status' });
    this.localTile = h('figure', { class: 'tile local' }, localVideo, this.localCaption, this.localStatus);
    this.main = h('div', { class: 'stage-main' });
    this.strip = h('div', { class: 'stage-strip' });
    this.fullButton = h('button', { type: 'button', class: 'stage-full', 'aria-pressed': 'false', onclick: () => this.toggleFullScreen() }, t('stage.full'));
    this.el = h('div', { class: 'videos stage-view', 'data-layout': 'solo' }, this.main, this.strip, this.localTile, this.fullButton);
    document.addEventListener('fullscreenchange', () => {
      const full = Boolean(document.fullscreenElement);
      this.fullButton.setAttribute('aria-pressed', String(full));
      this.fullButton.textContent = full ? t('stage.full.exit') : t('stage.full');
    });
  }

  /// Adds a remote tile (`remote.tile`, a `figure` with its caption) for `user`'s camera or
  /// screen under `key`; its microphone, when it has one, is measured for the active speaker.
  add(key, remote, { user, screen }) {
    remote.user = user;
    remote.key = key;
    remote.status ??= h('span', { class: 'tile-status' });
    remote.pin ??= h('button', {
      type: 'button', class: 'pin', 'aria-pressed': 'false',
      onclick: () => this.pin(this.pinned === key ? null : key),
    }, t('stage.pin'));
    remote.tile.append(remote.status, remote.pin);
    remote.tile.dataset.key = key;
    if (user !== null && user !== undefined) remote.tile.dataset.user = String(user);
    remote.screen = screen;
    this.tiles.set(key, remote);
    this.observer.observe(remote.tile);
    this.layout();
  }

  /// A remote audio track under `key` (the tile of its camera).
  listen(key, track) {
    this.meter.watch(key, track);
  }

  remove(key) {
    const remote = this.tiles.get(key);
    if (!remote) return;
    this.observer.unobserve(remote.tile);
    this.visible.delete(key);
    remote.tile.remove();
    this.tiles.delete(key);
    this.meter.unwatch(key);
    if (this.pinned === key) this.pinned = null;
    this.layout();
  }

  clear() {
    for (const key of [...this.tiles.keys()]) this.remove(key);
  }

  /// Own tiles beside the cameras (the own screen being shared): in the strip.
  addOwn(tile) {
    this.strip.append(tile);
  }

  /// Pins a tile large (`null` unpins): a shared screen still wins.
  pin(key) {
    this.pinned = key;
    this.layout();
  }

  /// What the session's state says of its members: names, switched-off or muted microphones,
  /// raised hands and the host.
  setMembers({ members, hands, host, form, me }) {
    this.members = members;
    this.hands = hands ?? [];
    this.host = host;
    this.form = form;
    this.me = me;
    this.layout();
  }

  /// The tile shown large.
  mainKey() {
    const shown = [...this.tiles.values()].filter((r) => !r.tile.hidden);
    const pick = (test) => shown.find(test)?.key;
    return pick((r) => r.screen)
      ?? pick((r) => r.key === this.pinned)
      ?? pick((r) => r.key === this.speaker && !r.screen)
      ?? (this.form === 'frontal' ? pick((r) => r.user === this.host && !r.screen) : undefined)
      ?? shown[0]?.key
      ?? null;
  }

  /// Puts each tile where it belongs and refreshes what the tiles say. Tiles move only when
  /// their place changes (a video moved within one task keeps playing).
  layout() {
    const main = this.mainKey();
    for (const [key, remote] of this.tiles) {
      const home = key === main ? this.main : this.strip;
      if (remote.tile.parentNode !== home) {
        if (home === this.main) this.main.replaceChildren(remote.tile);
        else this.strip.append(remote.tile);
      }
      remote.tile.classList.toggle('main', key === main);
      remote.tile.classList.toggle('speaking', key === this.speaker);
      remote.pin.setAttribute('aria-pressed', String(this.pinned === key));
      remote.pin.textContent = this.pinned === key ? t('stage.unpin') : t('stage.pin');
      remote.pin.setAttribute('aria-label', `${this.pinned === key ? t('stage.unpin') : t('stage.pin')}: ${remote.label?.textContent ?? ''}`);
      this.renderStatus(remote.status, remote.screen ? null : remote.user);
    }
    if (main === null && this.main.firstChild) this.main.replaceChildren();
    this.renderStatus(this.localStatus, this.me);
    this.el.dataset.layout = main === null ? 'solo' : 'speaker';
    this.el.dataset.count = String(this.tiles.size + 1);
    this.viewChanged();
  }

  /// The members whose video to receive: everyone's while the cameras are few, else those
  /// of the large tile and of the tiles visible in the strip. Told (once it settled for a
  /// moment) to `onView` when it changes.
  viewChanged() {
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => {
      const cameras = [...this.tiles.values()].filter((r) => !r.screen && r.user !== null && r.user !== undefined);
      let view = null;
      if (cameras.length > VIEW_ALL) {
        const main = this.mainKey();
        const shown = [...this.tiles.values()].filter((r) => r.key === main || this.visible.has(r.key));
        view = [...new Set(shown.map((r) => r.user).filter((u) => u !== null && u !== undefined))].sort((a, b) => a - b);
      }
      if (JSON.stringify(view) === JSON.stringify(this.view)) return;
      this.view = view;
      this.onView?.(view);
    }, 300);
  }

  /// A tile's marks: a microphone switched off by its owner or muted by the host, a raised hand.
  renderStatus(el, user) {
    const member = user === null || user === undefined ? null : this.members.find((m) => m.user.id === user);
    const micOff = Boolean(member && ((member.off ?? []).includes('audio') || (member.muted ?? []).includes('audio')));
    const hand = user !== null && user !== undefined && this.hands.includes(user);
    const marks = [];
    if (micOff) marks.push(h('span', { class: 'mark mic-off', role: 'img', 'aria-label': t('stage.mic_off'), title: t('stage.mic_off') }, icon(MIC_OFF)));
    if (hand) marks.push(h('span', { class: 'mark hand-up', role: 'img', 'aria-label': t('session.hand.raised'), title: t('session.hand.raised') }, icon(HAND)));
    const text = marks.map((m) => m.className).join(' ');
    if (el.dataset.marks === text) return;
    el.dataset.marks = text;
    replace(el, marks);
  }

  /// The stage with the session's controls in full screen, or back.
  toggleFullScreen() {
    const target = this.el.closest('.stage') ?? this.el;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else target.requestFullscreen?.().catch(() => {});
  }

  /// Captions follow the language.
  relabel() {
    this.localCaption.textContent = t('session.me');
    this.fullButton.textContent = document.fullscreenElement ? t('stage.full.exit') : t('stage.full');
    this.layout();
  }

  /// The levels and the speaker, for diagnostics and tests.
  describe() {
    return {
      main: this.mainKey(),
      speaker: this.speaker,
      pinned: this.pinned,
      levels: { ...this.meter.levels },
      strip: [...this.strip.children].map((x) => x.dataset.key ?? 'own'),
      view: this.view,
    };
  }

  close() {
    clearTimeout(this.viewTimer);
    this.observer.disconnect();
    this.meter.close();
  }
}
