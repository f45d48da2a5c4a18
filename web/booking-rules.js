//! A staff member's rules for booking their hours (`set_booking_rules`: the slot length and how
//! many students a group slot holds) and the week of their slots, each blocked or freed again
//! with `block_slot`; shown with their consultation hours.

import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { formatSpan, formatWhen } from './locale.js';
import { createSlotWeek, slotStateText } from './slots.js';

export function createBookingRules(app) {
  const conn = app.conn;
  const el = h('section', { class: 'card booking-rules', 'aria-labelledby': 'rules-heading' });
  const status = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'rules-status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'rules-error' });
  /// The rules as the server last said them; the fields show them until someone types.
  const rules = { slot_minutes: null, group_limit: null };
  let edited = false;
  const minutes = h('input', { type: 'number', id: 'rules-minutes', min: 5, max: 120, step: 1, required: true, inputmode: 'numeric', oninput: () => { edited = true; } });
  const group = h('input', { type: 'number', id: 'rules-group', min: 1, max: 30, step: 1, required: true, inputmode: 'numeric', oninput: () => { edited = true; } });
  const week = createSlotWeek(app, {
    id: 'rules',
    renderSlot,
    onLoaded: (reply) => {
      rules.slot_minutes = reply.slot_minutes;
      rules.group_limit = reply.group_limit;
      fillFields();
    },
  });

  function fillFields() {
    if (edited) return;
    if (rules.slot_minutes !== null) minutes.value = rules.slot_minutes;
    if (rules.group_limit !== null) group.value = rules.group_limit;
  }

  function renderSlot(slot) {
    const label = formatWhen(slot);
    return [
      h('span', { class: 'slot-time' }, formatSpan(slot.start, slot.end)), ' ',
      h('span', { class: `slot-state state-${slot.blocked ? 'blocked' : 'open'}` }, slotStateText(slot)),
      h('button', {
        type: 'button', class: 'slot-block', id: `block-${slot.start}`, 'data-blocked': slot.blocked ? 'true' : 'false',
        'aria-label': t(slot.blocked ? 'rules.unblock.label' : 'rules.block.label', { when: label }),
        onclick: () => block(slot, !slot.blocked),
      }, t(slot.blocked ? 'rules.unblock' : 'rules.block')),
    ];
  }

  async function block(slot, blocked) {
    error.textContent = '';
    status.textContent = '';
    try {
      await conn.request({ type: 'block_slot', start: slot.start, blocked });
      status.textContent = t(blocked ? 'rules.blocked' : 'rules.unblocked', { when: formatWhen(slot) });
    } catch (err) {
      error.textContent = err.code === 'bad_request' ? t('rules.error.slot') : app.errorText(err);
    }
    await week.load();
  }

  async function save(event) {
    event.preventDefault();
    error.textContent = '';
    status.textContent = '';
    try {
      const reply = await conn.request({ type: 'set_booking_rules', slot_minutes: Number(minutes.value), group_limit: Number(group.value) });
      rules.slot_minutes = reply.slot_minutes;
      rules.group_limit = reply.group_limit;
      edited = false;
      fillFields();
      status.textContent = t('rules.saved', { minutes: reply.slot_minutes, limit: reply.group_limit });
    } catch (err) {
      error.textContent = err.code === 'bad_request' ? t('rules.error.range') : app.errorText(err);
    }
    await week.load();
  }

  function render() {
    const form = h('form', { class: 'rules-form', id: 'rules-form' },
      h('label', { for: 'rules-minutes' }, t('rules.minutes')), minutes,
      h('label', { for: 'rules-group' }, t('rules.group')), group,
      h('button', { type: 'submit', class: 'primary', id: 'rules-save' }, t('rules.save')));
    form.addEventListener('submit', save);
    replace(el, h('h2', { id: 'rules-heading' }, t('rules.heading')),
      h('p', { class: 'hint' }, t('rules.hint')), form, status,
      h('h3', {}, t('rules.slots')), h('p', { class: 'hint' }, t('rules.block.hint')), week.el, error);
    week.render();
  }

  // A booking made, moved or cancelled changes what the week's slots hold.
  conn.on('booking_changed', () => {
    if (week.reply) week.load();
  });

  render();
  return {
    el,
    /// Loads the rules and this week's slots (again after the hours changed).
    load: () => week.show(app.user.id),
    rerender: render,
  };
}
