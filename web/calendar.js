//! "Календарь": the user's private calendar feed (`calendar_link`), its full address to copy
//! into a phone's calendar, renewed (the old address stops working) or turned off.

import { h, replace } from './dom.js';
import { t } from './i18n.js';

export function createCalendar(app) {
  const conn = app.conn;
  /// `url` the feed's path (`/cal/<secret>.ics`), null while there is none, undefined unknown.
  let url;
  let message = '';
  const el = h('section', { class: 'card calendar', 'aria-labelledby': 'calendar-heading' });
  const status = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'calendar-status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'calendar-error' });

  async function act(action, done = '') {
    error.textContent = '';
    try {
      const reply = await conn.request({ type: 'calendar_link', action });
      url = reply.url ?? null;
      message = done;
    } catch (err) {
      error.textContent = app.errorText(err);
    }
    render();
    if (action !== 'get') el.querySelector(url ? '#calendar-url' : '#calendar-renew')?.focus();
  }

  async function copy(input) {
    input.select();
    let copied = false;
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      // No clipboard access (an old browser, or refused): the selected address can be copied
      // by hand, and the page says so.
      try {
        copied = document.execCommand('copy');
      } catch {
        copied = false;
      }
    }
    message = copied ? t('calendar.copied') : t('calendar.copy_by_hand');
    status.textContent = message;
  }

  function render() {
    const parts = [h('h2', { id: 'calendar-heading' }, t('calendar.heading')), h('p', { class: 'hint' }, t('calendar.hint'))];
    if (url) {
      const input = h('input', { id: 'calendar-url', readonly: true, value: location.origin + url, onfocus: (e) => e.target.select() });
      parts.push(h('label', { for: 'calendar-url' }, t('calendar.url')), input,
        h('p', { class: 'hint' }, t('calendar.secret')),
        h('button', { type: 'button', id: 'calendar-copy', onclick: () => copy(input) }, t('calendar.copy')),
        h('button', { type: 'button', id: 'calendar-renew', onclick: () => act('renew', t('calendar.renewed')) }, t('calendar.renew')),
        h('button', { type: 'button', id: 'calendar-revoke', onclick: () => act('revoke', t('calendar.revoked')) }, t('calendar.revoke')));
    } else if (url === null) {
      parts.push(h('p', {}, t('calendar.none')),
        h('button', { type: 'button', id: 'calendar-renew', onclick: () => act('renew', t('calendar.made')) }, t('calendar.make')));
    }
    status.textContent = message;
    replace(el, ...parts, status, error);
  }

  render();
  act('get');
  return { el, rerender: render };
}
