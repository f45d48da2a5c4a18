//! Media: the local camera and microphone (devices, toggles, screen share) and one
//! RTCPeerConnection negotiated over `signal` with the perfect negotiation pattern, to the
//! other member (peer-to-peer) or to the server's SFU.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } };

/// The user's own camera and microphone.
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

  /// The track the video sender should carry: the screen while shared, else the camera.
  get outgoingVideo() {
    return this.screen ?? this.video;
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

  async shareScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
    this.screen = stream.getVideoTracks()[0];
    this.screen.addEventListener('ended', () => this.stopScreen());
    this.emit('video');
  }

  stopScreen() {
    if (!this.screen) return;
    this.screen.stop();
    this.screen = null;
    this.emit('video');
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
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.send(candidate.toJSON());
    };
    this.pc.ontrack = (event) => onTrack(event.track, event.streams, event.transceiver);
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      if (s === 'connected') onState('connected');
      else if (s === 'failed') onState('failed');
      else if (s === 'connecting' || s === 'new') onState('connecting');
    };
    this.senders = { audio: null, video: null };
  }

  /// Adds the local tracks (or receive-only transceivers for kinds without one).
  attach(local, { publish = true } = {}) {
    for (const kind of ['audio', 'video']) {
      const track = kind === 'video' ? local.outgoingVideo : local.audio;
      if (track) {
        this.senders[kind] = this.pc.addTrack(track, local.stream);
        if (!publish) this.senders[kind].replaceTrack(null);
      } else {
        this.pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
  }

  /// Points the senders at the current local tracks (device change, screen share, floor).
  async refresh(local, { publish = true } = {}) {
    for (const kind of ['audio', 'video']) {
      const sender = this.senders[kind];
      const track = publish ? (kind === 'video' ? local.outgoingVideo : local.audio) : null;
      if (sender && sender.track !== track) {
        try {
          await sender.replaceTrack(track);
        } catch {
          // The connection closed meanwhile.
        }
      }
    }
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

  /// A description or candidate from the other side.
  async receive(data) {
    if (this.closed) return;
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
        } catch (err) {
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

  /// Total video frames decoded, for the connection indicator and diagnostics.
  async framesDecoded() {
    let frames = 0;
    const stats = await this.pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    return frames;
  }

  close() {
    this.closed = true;
    this.pc.close();
  }
}
