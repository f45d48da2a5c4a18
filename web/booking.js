//! The student's booking of a time in a teacher's consultation hours: the week of the teacher's
//! slots to choose from (a topic and a form for a free one), "Мои записи" with cancel and move,
//! and what the teacher's cancellation says (with their reason).

import { h, keepFocus, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { formatSpan, formatWhen } from './locale.js';
import { createSlotWeek, slotState, slotStateText } from './slots.js';

/// Error codes of `book_slot`, `move_booking` and `cancel_booking` that have words of their own.
const WORDED = new Set(['slot_taken', 'booking_limit', 'booking_locked', 'bad_request', 'not_found']);

export function createBooking(app) {
  const conn = app.conn;
  const me = app.user.id;
  /// `topic` and `group` keep what was typed and ticked while the week is drawn anew.
  const state = { bookings: [], loaded: false, notice: '', teacher: null, moving: null, chosen: null, topic: '', group: false };

  const listEl = h('section', { class: 'card my-bookings', 'aria-labelledby': 'my-bookings-heading' });
  const noticeEl = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'bookings-notice' });
  const listError = h('p', { class: 'error', role: 'alert', id: 'bookings-error' });
  const pickerEl = h('section', { class: 'card booking-picker', 'aria-labelledby': 'picker-heading', hidden: true });
  const pickerError = h('p', { class: 'error', role: 'alert', id: 'book-error' });
  const week = createSlotWeek(app, { id: 'book', renderSlot });

  function errorWords(err) {
    return WORDED.has(err.code) ? t(`booking.error.${err.code}`) : app.errorText(err);
  }

  function setNotice(text, urgent = false) {
    state.notice = text;
    noticeEl.textContent = text;
    if (text) app.announce(text, urgent);
  }

  async function load() {
    try {
      const reply = await conn.request({ type: 'bookings' });
      state.bookings = reply.bookings;
      state.loaded = true;
      reply.bookings.forEach((b) => app.learn(b.teacher));
      listError.textContent = '';
    } catch (err) {
      listError.textContent = app.errorText(err);
    }
    renderList();
  }

  function renderList() {
    const items = state.bookings.map((b) => h('li', { class: 'booking', 'data-booking': b.id, 'data-start': b.start },
      h('p', { class: 'booking-when' }, formatWhen(b)),
      h('p', {}, b.teacher.name, ' · ', subjectName(b.subject), ', ', t('form.' + b.form)),
      h('p', { class: 'booking-topic' }, t('booking.topic', { topic: b.topic })),
      h('button', { type: 'button', class: 'booking-move', id: `booking-move-${b.id}`, 'aria-label': t('booking.move.label', { when: formatWhen(b) }), onclick: () => startMove(b) }, t('booking.move')),
      h('button', { type: 'button', class: 'booking-cancel', id: `booking-cancel-${b.id}`, 'aria-label': t('booking.cancel.label', { when: formatWhen(b) }), onclick: () => cancel(b) }, t('booking.cancel'))));
    keepFocus(listEl, () => replace(listEl, h('h2', { id: 'my-bookings-heading', tabindex: -1 }, t('bookings.heading')), noticeEl,
      items.length ? h('ul', { class: 'booking-list' }, items) : h('p', {}, state.loaded ? t('bookings.none') : ''),
      listError), () => listEl.querySelector('h2'));
    noticeEl.textContent = state.notice;
  }

  async function cancel(booking) {
    listError.textContent = '';
    try {
      await conn.request({ type: 'cancel_booking', booking: booking.id });
      setNotice(t('booking.cancelled', { when: formatWhen(booking) }));
    } catch (err) {
      listError.textContent = errorWords(err);
    }
    await load();
    if (state.teacher?.id === booking.teacher.id) week.load();
  }

  /// Opens the week of `teacher`'s slots to book one.
  function open(teacher) {
    state.teacher = teacher;
    state.moving = null;
    state.chosen = null;
    showPicker();
  }

  /// Opens the week of the booking's teacher's slots to move the booking into one.
  function startMove(booking) {
    state.teacher = booking.teacher;
    state.moving = booking;
    state.chosen = null;
    showPicker();
  }

  function showPicker() {
    pickerError.textContent = '';
    pickerEl.hidden = false;
    renderPicker();
    // A booking is moved from the week it is in.
    week.show(state.teacher.id, state.moving?.start.slice(0, 10));
    pickerEl.querySelector('#picker-heading').focus();
  }

  function closePicker() {
    const teacher = state.teacher;
    state.teacher = null;
    state.moving = null;
    state.chosen = null;
    pickerEl.hidden = true;
    // The keyboard goes back to where the picker was opened from.
    const back = teacher && document.querySelector(`.teacher[data-user="${teacher.id}"] .book-open`);
    (back ?? listEl.querySelector('h2'))?.focus();
  }

  function renderPicker() {
    if (!state.teacher) {
      replace(pickerEl);
      return;
    }
    const heading = state.moving
      ? t('book.move.heading', { name: state.teacher.name, when: formatWhen(state.moving) })
      : t('book.heading', { name: state.teacher.name });
    replace(pickerEl,
      h('h2', { id: 'picker-heading', tabindex: -1 }, heading),
      h('p', { class: 'hint' }, t('book.hint')),
      week.el,
      pickerError,
      h('button', { type: 'button', id: 'book-close', onclick: closePicker }, t('book.close')));
  }

  /// Whether the slot may be chosen: to book, a free one or a group with room; to move a
  /// booking, one its form fits.
  function choosable(slot) {
    const s = slotState(slot);
    if (!state.moving) return s === 'free' || s === 'partly';
    if (slot.start === state.moving.start) return false;
    return s === 'free' || (s === 'partly' && state.moving.form === 'group');
  }

  function renderSlot(slot) {
    const span = formatSpan(slot.start, slot.end);
    const about = `${subjectName(slot.subject)}, ${t('mode.' + slot.mode)}`;
    const stateText = slotStateText(slot);
    if (!choosable(slot)) {
      return [h('span', { class: 'slot-time' }, span), ' ', h('span', { class: `slot-state state-${slotState(slot)}` }, stateText),
        h('span', { class: 'slot-about' }, about)];
    }
    const chosen = state.chosen === slot.start;
    const button = h('button', {
      type: 'button', class: 'slot-choose', id: `choose-${slot.start}`, 'aria-expanded': chosen ? 'true' : 'false',
      onclick: () => choose(slot),
    }, h('span', { class: 'slot-time' }, span), ' ', h('span', { class: `slot-state state-${slotState(slot)}` }, stateText));
    return [button, h('span', { class: 'slot-about' }, about), chosen ? (state.moving ? moveForm(slot) : bookForm(slot)) : null];
  }

  function choose(slot) {
    state.chosen = state.chosen === slot.start ? null : slot.start;
    pickerError.textContent = '';
    week.render();
    (state.chosen ? pickerEl.querySelector('#book-topic, #move-submit') : document.getElementById(`choose-${slot.start}`))?.focus();
  }

  function bookForm(slot) {
    const topic = h('textarea', { id: 'book-topic', rows: 2, maxlength: 500, required: true, oninput: (e) => { state.topic = e.target.value; } });
    topic.value = state.topic;
    const free = slotState(slot) === 'free';
    const remember = () => { state.group = group.checked; };
    const individual = h('input', { type: 'radio', name: 'book-form', id: 'book-form-individual', value: 'individual', checked: !state.group, onchange: remember });
    const group = h('input', { type: 'radio', name: 'book-form', id: 'book-form-group', value: 'group', checked: state.group, onchange: remember });
    const form = h('form', { class: 'booking-form' },
      h('label', { for: 'book-topic' }, t('book.topic')), topic,
      free
        ? h('fieldset', {}, h('legend', {}, t('book.form')),
          h('label', { class: 'inline' }, individual, ' ', t('form.individual')),
          h('label', { class: 'inline' }, group, ' ', t('book.form.group', { capacity: slot.capacity })))
        : h('p', {}, t('book.joins_group', { booked: slot.booked, capacity: slot.capacity })),
      h('button', { type: 'submit', class: 'primary', id: 'book-submit' }, t('book.submit', { when: formatSpan(slot.start, slot.end) })),
      h('button', { type: 'button', id: 'book-back', onclick: () => choose(slot) }, t('book.back')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = topic.value.trim();
      if (!text) {
        topic.focus();
        return;
      }
      await book({ type: 'book_slot', teacher: state.teacher.id, start: slot.start, form: free && group.checked ? 'group' : free ? 'individual' : 'group', topic: text });
    });
    return form;
  }

  function moveForm(slot) {
    const form = h('form', { class: 'booking-form' },
      h('p', {}, t('book.move.confirm', { when: formatWhen(slot) })),
      h('button', { type: 'submit', class: 'primary', id: 'move-submit' }, t('book.move.submit')),
      h('button', { type: 'button', id: 'book-back', onclick: () => choose(slot) }, t('book.back')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      await book({ type: 'move_booking', booking: state.moving.id, start: slot.start });
    });
    return form;
  }

  /// Sends `book_slot` or `move_booking`; on `booked` the list and the week show it.
  async function book(msg) {
    pickerError.textContent = '';
    const action = msg.type === 'move_booking' ? 'book.move' : 'book';
    try {
      const { booking } = await conn.request(msg);
      state.chosen = null;
      state.moving = null;
      state.topic = '';
      renderPicker();
      setNotice(t(`${action}.done`, { name: booking.teacher.name, when: formatWhen(booking) }));
      await Promise.all([load(), week.load()]);
      pickerEl.querySelector('#picker-heading')?.focus();
    } catch (err) {
      pickerError.textContent = errorWords(err);
      state.chosen = null;
      // What the slot is now (taken by another student, or blocked) shows at once.
      await week.load();
      (document.getElementById(`choose-${msg.start}`) ?? pickerEl.querySelector('#picker-heading'))?.focus();
    }
  }

  conn.on('booking_changed', ({ booking, change }) => {
    app.learn(booking.teacher);
    load();
    if (state.teacher?.id === booking.teacher.id) week.load();
    // The teacher cancelled: the student is told, with the reason they gave.
    if (change === 'cancelled' && booking.cancelled_by !== me) {
      const params = { name: booking.teacher.name, when: formatWhen(booking), reason: booking.reason ?? '' };
      setNotice(t(booking.reason ? 'booking.cancelled_by_staff' : 'booking.cancelled_by_staff.no_reason', params), true);
    }
  });
  conn.on('welcome', () => load());

  function rerender() {
    renderList();
    renderPicker();
    week.render();
  }

  rerender();
  load();
  return { listEl, pickerEl, open, rerender, load };
}
