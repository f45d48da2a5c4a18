//! Small DOM helpers: building elements without innerHTML, so text from the server is never
//! parsed as markup.

/// Creates an element: `h('button', {class: 'x', onclick: fn}, 'text', child)`.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key in el && typeof value !== 'string') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/// Replaces the children of `el`.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/// Runs `draw`, which rebuilds `container`'s children, and puts the keyboard back on the control
/// (by id) that had it, with the caret where it was: a list redrawn by a push must not throw
/// someone typing or tabbing through it out of their place. When that control is gone (the
/// booking it belonged to was cancelled), `fallback()` names the element that takes the keyboard.
export function keepFocus(container, draw, fallback = () => null) {
  const active = document.activeElement;
  const inside = Boolean(active) && active !== document.body && container.contains(active);
  const id = inside ? active.id : '';
  const caret = id && typeof active.selectionStart === 'number' ? [active.selectionStart, active.selectionEnd] : null;
  draw();
  if (!inside || container.contains(document.activeElement)) return;
  const again = id ? document.getElementById(id) : null;
  if (!again || !container.contains(again) || again.disabled) {
    fallback()?.focus();
    return;
  }
  again.focus();
  if (caret) {
    try {
      again.setSelectionRange(...caret);
    } catch {
      // A field without a caret (a number field): the focus alone is back.
    }
  }
}

/// A short tone from WebAudio, so an incoming offer is heard without an audio file.
let audio;
export function beep() {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch {
    // No audio output: the visual offer and the aria-live announcement remain.
  }
}

/// A random id for `client_id` (idempotent chat sends).
export function randomId() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
}
