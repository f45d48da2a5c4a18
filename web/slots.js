//! A week of a staff member's bookable slots (`list_slots`), day by day, with the previous and
//! next week: what the student books from and the staff member blocks slots in. Each caller
//! draws a slot its own way; this module owns the week, the days and the slot's state.

import { h, keepFocus, replace } from './dom.js';
import { t } from './i18n.js';
import { addDays, formatDay, schoolToday } from './locale.js';

/// How many weeks ahead the list goes: the server lists slots up to `booking.horizon_days` (28
/// by default) ahead, four weeks counted from today.
const WEEKS_AHEAD = 3;

/// What a slot is to the person looking: `mine` (the asking student's booking), `blocked` (by
/// its staff member), `full` (an individual booking holds it, or its group is full), `partly`
/// (a group with room left), or `free`.
export function slotState(slot) {
  if (slot.mine !== undefined && slot.mine !== null) return 'mine';
  if (slot.blocked) return 'blocked';
  if (slot.booked >= slot.capacity) return 'full';
  if (slot.booked > 0) return 'partly';
  return 'free';
}

/// The words of a slot's state: "свободно", "группа: 2 из 4", "занято", "закрыто", "ваша запись".
export function slotStateText(slot) {
  const state = slotState(slot);
  return t('slot.' + state, { booked: slot.booked, capacity: slot.capacity });
}

/// A week of slots. `renderSlot(slot)` draws one slot's list item's content; `id` prefixes the
/// ids of its controls (two weeks may be on one page); `onLoaded(reply)` hears each `slots`.
export function createSlotWeek(app, { id, renderSlot, onLoaded = () => {} }) {
  let teacher = null;
  let week = 0;
  let reply = null;
  let loading = null;
  const el = h('div', { class: 'slot-week' });
  const error = h('p', { class: 'error', role: 'alert', id: `${id}-error` });

  const from = () => addDays(schoolToday(), week * 7);

  async function load() {
    if (teacher === null) return;
    const asked = { teacher, from: from(), days: 7 };
    error.textContent = '';
    const mine = app.conn.request({ type: 'list_slots', ...asked });
    loading = mine;
    try {
      const answer = await mine;
      // A later request (another week, another teacher) wins over one that answers late.
      if (loading !== mine) return;
      reply = answer;
      onLoaded(answer);
    } catch (err) {
      if (loading !== mine) return;
      reply = null;
      error.textContent = app.errorText(err);
    }
    render();
  }

  function go(delta) {
    week = Math.min(WEEKS_AHEAD, Math.max(0, week + delta));
    reply = null;
    render();
    load();
  }

  /// Draws the week again; the keyboard stays where it was, or (the first or last week reached,
  /// the slot chosen gone) goes to the week's buttons.
  function render() {
    keepFocus(el, draw, () => el.querySelector(`#${id}-prev:not(:disabled), #${id}-next:not(:disabled)`));
  }

  function draw() {
    const first = from();
    const label = t('slots.week', { from: formatDay(first), to: formatDay(addDays(first, 6)) });
    const nav = h('div', { class: 'week-nav' },
      h('button', { type: 'button', id: `${id}-prev`, disabled: week === 0, onclick: () => go(-1) }, t('slots.prev')),
      h('span', { class: 'week-label', id: `${id}-week`, 'aria-live': 'polite' }, label),
      h('button', { type: 'button', id: `${id}-next`, disabled: week >= WEEKS_AHEAD, onclick: () => go(1) }, t('slots.next')));
    if (!reply) {
      replace(el, nav, h('p', { class: 'hint' }, error.textContent ? '' : t('slots.loading')), error);
      return;
    }
    // Slots come in time order; their start is on the school's clock, so its date is the day.
    const days = new Map();
    for (const slot of reply.slots) {
      const day = slot.start.slice(0, 10);
      if (!days.has(day)) days.set(day, []);
      days.get(day).push(slot);
    }
    const list = [...days].map(([day, slots]) => h('li', { class: 'booking-day', 'data-day': day },
      h('h3', { id: `${id}-day-${day}` }, formatDay(day)),
      h('ul', { class: 'booking-slots', 'aria-labelledby': `${id}-day-${day}` },
        slots.map((slot) => h('li', { class: 'booking-slot', 'data-start': slot.start, 'data-state': slotState(slot) },
          renderSlot(slot))))));
    replace(el, nav,
      list.length ? h('ol', { class: 'booking-days' }, list) : h('p', { class: 'hint' }, t('slots.none')),
      error);
  }

  render();
  return {
    el,
    load,
    render,
    /// The last `slots` answer (rules included), or null.
    get reply() {
      return reply;
    },
    get teacher() {
      return teacher;
    },
    /// Shows `teacherId`'s slots of the week holding `day` (`2026-12-09`), this week without.
    show(teacherId, day = null) {
      const today = schoolToday();
      const ahead = day ? Math.round((Date.parse(day) - Date.parse(today)) / 86400000) : 0;
      const target = Math.min(WEEKS_AHEAD, Math.max(0, Math.floor(ahead / 7)));
      if (teacher !== teacherId || week !== target) reply = null;
      teacher = teacherId;
      week = target;
      render();
      return load();
    },
  };
}
