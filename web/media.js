//! Media: the local camera and microphone (devices, toggles, screen share) and one
//! RTCPeerConnection negotiated over `signal` with the perfect negotiation pattern, to the
//! other member (peer-to-peer) or to the server's SFU.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } };

/// The user's own camera and microphone.
/// What a page sends, by kind: `true` or `false` for all, or `{audio, video, screen}` (a
/// frontal session's student sends the camera, which reaches the host alone, and the rest only
/// with the floor).
function sending(publish) {
  if (typeof publish === 'object' && publish) {
    return { audio: Boolean(publish.audio), video: Boolean(publish.video), screen: Boolean(publish.screen) };
  }
  return { audio: Boolean(publish), video: Boolean(publish), screen: Boolean(publish) };
}

export class LocalMedia {
  constructor() {
    this.stream = new MediaStream();
    this.audio = null;
    this.video = null;
    this.screen = null;
    this.micOn = true;
    this.camOn = true;
    this.listeners = new Set();
  }

  /// Asks for the camera and microphone; a missing one leaves that kind empty.
  async open(audioDevice, videoDevice) {
    const audio = audioDevice ? { deviceId: { exact: audioDevice } } : true;
    const video = videoDevice ? { ...VIDEO, deviceId: { exact: videoDevice } } : VIDEO;
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch {
      for (const only of [{ audio }, { video }]) {
        try {
          const part = await navigator.mediaDevices.getUserMedia(only);
          stream ??= new MediaStream();
          part.getTracks().forEach((tr) => stream.addTrack(tr));
        } catch {
          // That kind is unavailable; the other may still work.
        }
      }
    }
    if (!stream) return false;
    const newAudio = stream.getAudioTracks()[0] ?? null;
    const newVideo = stream.getVideoTracks()[0] ?? null;
    if (newAudio) this.replace('audio', newAudio);
    if (newVideo) this.replace('video', newVideo);
    return true;
  }

  replace(kind, track) {
    const old = this[kind];
    if (old) {
      this.stream.removeTrack(old);
      old.stop();
    }
    this[kind] = track;
    if (track) {
      track.enabled = kind === 'audio' ? this.micOn : this.camOn;
      this.stream.addTrack(track);
    }
    this.emit(kind);
  }

  setMic(on) {
    this.micOn = on;
    if (this.audio) this.audio.enabled = on;
    this.emit('audio');
  }

  setCam(on) {
    this.camOn = on;
    if (this.video) this.video.enabled = on;
    this.emit('video');
  }

  /// Shares the screen as a track of its own, beside the camera.
  async shareScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    this.stopScreen();
    this.screen = track;
    track.addEventListener('ended', () => {
      if (this.screen === track) this.stopScreen();
    });
    this.emit('screen');
  }

  stopScreen() {
    if (!this.screen) return;
    this.screen.stop();
    this.screen = null;
    this.emit('screen');
  }

  on(listener) {
    this.listeners.add(listener);
  }

  emit(kind) {
    for (const listener of this.listeners) listener(kind);
  }

  static async devices() {
    try {
      return await navigator.mediaDevices.enumerateDevices();
    } catch {
      return [];
    }
  }

  close() {
    this.stopScreen();
    for (const tr of this.stream.getTracks()) tr.stop();
    this.listeners.clear();
  }
}

/// One peer connection negotiated with the perfect negotiation pattern: both sides may
/// offer; on a collision the polite side rolls back and answers.
export class PeerLink {
  /// `send(data)` carries a description or candidate to the other side; `onTrack(track,
  /// streams)` hears remote tracks; `onState(state)` hears `connected` / `failed` /
  /// `connecting`.
  constructor({ iceServers, polite, send, onTrack, onState }) {
    this.polite = polite;
    this.send = send;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.pc = new RTCPeerConnection({ iceServers: iceServers ?? [] });
    this.pc.onnegotiationneeded = () => this.offer();
    /// Candidates sent, added and refused, for diagnostics.
    this.candidates = { sent: 0, added: 0, refused: 0 };
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) {
        this.candidates.sent += 1;
        this.send(candidate.toJSON());
      }
    };
    this.pc.ontrack = (event) => onTrack(event.track, event.streams, event.transceiver);
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      if (s === 'connected') onState('connected');
      else if (s === 'failed') onState('failed');
      else if (s === 'connecting' || s === 'new') onState('connecting');
    };
    this.sfu = false;
    this.senders = { audio: null, video: null, screen: null };
  }

  /// Adds the local tracks. Peer to peer: send-and-receive tracks (a kind without a track
  /// still receives). To the SFU: send-only transceivers for what is published, and a data
  /// channel when nothing is, as the SFU expects; it offers what the member receives. A screen
  /// being shared gets its own video m-line after the camera's.
  attach(local, { publish = true, sfu = false } = {}) {
    publish = sending(publish);
    this.sfu = sfu;
    let published = 0;
    for (const kind of ['audio', 'video']) {
      const track = local[kind];
      if (track && sfu) {
        const transceiver = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [local.stream] });
        this.senders[kind] = transceiver.sender;
        published += 1;
      } else if (track) {
        this.senders[kind] = this.pc.addTrack(track, local.stream);
      } else if (!sfu) {
        this.pc.addTransceiver(kind, { direction: 'recvonly' });
      }
      if (track && !publish[kind]) this.senders[kind].replaceTrack(null);
    }
    if (local.screen && publish.screen) {
      this.shareScreen(local);
      published += 1;
    }
    if (sfu && published === 0) this.pc.createDataChannel('konsult');
  }

  /// Sends the screen on its own m-line: the one used before, else (peer to peer) a video
  /// m-line the other side opened for its own screen, else a new one.
  shareScreen(local) {
    const track = local.screen;
    let transceiver = this.senders.screen && this.pc.getTransceivers().find((x) => x.sender === this.senders.screen);
    if (!transceiver && !this.sfu) {
      transceiver = this.pc.getTransceivers().find((x) => !x.stopped && x.receiver.track.kind === 'video'
        && !x.sender.track && x.sender !== this.senders.video && this.isScreen(x));
    }
    if (transceiver) {
      transceiver.sender.replaceTrack(track).catch(() => {});
      transceiver.sender.setStreams?.(local.stream);
      transceiver.direction = this.sfu ? 'sendonly' : 'sendrecv';
    } else {
      transceiver = this.pc.addTransceiver(track, { direction: this.sfu ? 'sendonly' : 'sendrecv', streams: [local.stream] });
    }
    this.senders.screen = transceiver.sender;
  }

  /// Stops sending the screen; the m-line stays for the next share. Peer to peer it turns
  /// receive-only, through the SFU inactive: the renegotiation tells the other side, which
  /// drops the screen's tile (the SFU stops forwarding it to everyone).
  stopScreen() {
    const sender = this.senders.screen;
    if (!sender) return;
    sender.replaceTrack(null).catch(() => {});
    const transceiver = this.pc.getTransceivers().find((x) => x.sender === sender);
    if (transceiver && !transceiver.stopped) transceiver.direction = this.sfu ? 'inactive' : 'recvonly';
  }

  /// Whether a remote video arriving on `transceiver` is a screen share: from the SFU, a
  /// track id ending in `-screen`; peer to peer, any video m-line after the first (the
  /// cameras').
  isScreen(transceiver) {
    if (transceiver.receiver.track.kind !== 'video' || transceiver.mid === null) return false;
    const sections = this.remoteSections();
    if (this.sfu) return /-screen$/.test(sections.find((x) => x.mid === transceiver.mid)?.track ?? '');
    const firstVideo = sections.find((x) => x.kind === 'video');
    return Boolean(firstVideo) && firstVideo.mid !== transceiver.mid;
  }

  /// The remote description's m-lines in order: `{kind, mid, track}`, `track` from
  /// `a=msid:<stream> <track>`.
  remoteSections() {
    const sdp = this.pc.remoteDescription?.sdp ?? '';
    return sdp.split(/\r?\nm=/).slice(1).map((section) => ({
      kind: section.split(' ', 1)[0],
      mid: /^a=mid:(\S+)/m.exec(section)?.[1] ?? null,
      track: /^a=msid:\S+ (\S+)/m.exec(section)?.[1] ?? null,
    }));
  }

  /// Points the senders at the current local tracks (device change, screen share, floor).
  async refresh(local, { publish = true } = {}) {
    publish = sending(publish);
    for (const kind of ['audio', 'video']) {
      const sender = this.senders[kind];
      const track = publish[kind] ? local[kind] : null;
      if (sender && sender.track !== track) {
        try {
          await sender.replaceTrack(track);
        } catch {
          // The connection closed meanwhile.
        }
      }
    }
    if (this.closed) return;
    const screen = publish.screen ? local.screen : null;
    if (screen && this.senders.screen?.track !== screen) this.shareScreen(local);
    else if (!screen && this.senders.screen?.track) this.stopScreen();
  }

  async offer() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.send({ type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp });
    } catch (err) {
      console.warn('offer failed', err);
    } finally {
      this.makingOffer = false;
    }
  }

  /// A description or candidate from the other side. Handled one at a time, in order: an
  /// offer right behind an answer (the SFU sends both at once) must see the answer applied.
  receive(data) {
    this.inbox = (this.inbox ?? Promise.resolve()).then(() => this.handle(data));
    return this.inbox;
  }

  async handle(data) {
    if (this.closed) return;
    this.received = (this.received ?? 0) + 1;
    try {
      if (data.type === 'offer' || data.type === 'answer') {
        const collision = data.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await this.pc.setRemoteDescription(data);
        if (data.type === 'offer') {
          await this.pc.setLocalDescription();
          this.send({ type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp });
        }
      } else if ('candidate' in data) {
        try {
          await this.pc.addIceCandidate(data);
          this.candidates.added += 1;
        } catch (err) {
          this.candidates.refused += 1;
          if (!this.ignoreOffer) throw err;
        }
      }
    } catch (err) {
      console.warn('negotiation failed', err);
    }
  }

  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  /// Where the link stands, as a mark that changes whenever it moves: the signaling and
  /// connection states and the connectivity-check answers received so far. Signals received
  /// do not count: a candidate that trickles in late, or points nowhere, is no progress. A
  /// link whose mark stands still while it is not connected has lost something on the way (an
  /// offer never answered, candidates that never arrived or lead nowhere).
  async progress() {
    const pc = this.pc;
    let answers = 0;
    try {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'candidate-pair') answers += s.responsesReceived ?? 0;
      });
    } catch {
      // Closed meanwhile: the mark below says so.
    }
    return `${pc.signalingState}/${pc.connectionState}/${answers}`;
  }

  /// Negotiates afresh: an offer never answered is taken back, and an ICE restart offers again
  /// with new credentials and candidates, which the other side answers with its own. Either
  /// side may: if both do at once, the perfect negotiation settles it as any collision.
  async renew() {
    if (this.closed) return;
    try {
      if (this.pc.signalingState === 'have-local-offer') {
        await this.pc.setLocalDescription({ type: 'rollback' });
      }
      this.pc.restartIce();
    } catch (err) {
      console.warn('renegotiation failed', err);
    }
  }

  /// Total video frames decoded, for the connection indicator and diagnostics.
  async framesDecoded() {
    let frames = 0;
    const stats = await this.pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    return frames;
  }

  /// Frames decoded per incoming video stream, for telling whose video arrives.
  async videoInbound() {
    const out = [];
    const stats = await this.pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') out.push({ mid: s.mid, frames: s.framesDecoded ?? 0, screen: this.isScreenMid(s.mid) });
    });
    return out;
  }

  isScreenMid(mid) {
    const transceiver = this.pc.getTransceivers().find((x) => x.mid === mid);
    return Boolean(transceiver && this.isScreen(transceiver));
  }

  close() {
    this.closed = true;
    this.pc.close();
  }
}
