//! Dates and times as the school reads them: every moment the pages show is formatted here by
//! `Intl.DateTimeFormat` in the school's time zone (an IANA name from `GET /api/help`, whatever
//! the browser's own zone) and the page's language (Russian: 24-hour, day.month.year, Russian
//! weekday names; the English switch changes them), and the date and time fields people type
//! into read in that order too.

import { h } from './dom.js';
import { currentLang, languageTag, t } from './i18n.js';
import { schoolQuery } from './school.js';

/// The school's IANA time zone (`Europe/Moscow`), or undefined (the browser's zone) until the
/// server has named it.
let schoolZone;

/// Formatters by language, zone and options, made once each: building one is costly and a
/// chat draws a timestamp per message.
const formatters = new Map();

/// Takes the school's time zone; a name this browser does not know is ignored (the browser's
/// zone serves) rather than breaking every date on the page.
export function setSchoolZone(zone) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    schoolZone = zone;
  } catch {
    schoolZone = undefined;
  }
  formatters.clear();
}

/// The school's zone as the page uses it (for the tests and the diagnostics).
export function currentSchoolZone() {
  return schoolZone;
}

/// Asks the public `GET /api/help` for the school's time zone (`timezone`); without an answer
/// the browser's zone serves.
export async function loadSchoolZone() {
  try {
    const res = await fetch(`/api/help${schoolQuery()}`);
    if (res.ok) setSchoolZone((await res.json()).timezone);
  } catch {
    // No zone from the server: the browser's own serves.
  }
}

function formatter(options) {
  const key = `${languageTag()}|${schoolZone}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.DateTimeFormat(languageTag(), { ...options, hourCycle: 'h23', timeZone: schoolZone }));
  }
  return formatters.get(key);
}

/// A moment (epoch milliseconds, a `Date` or an ISO 8601 string with its offset) as a `Date`;
/// null for nothing or nonsense.
function moment(value) {
  if (value === null || value === undefined || value === '') return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const TIME = { hour: '2-digit', minute: '2-digit' };
const DATE = { weekday: 'short', day: '2-digit', month: '2-digit', year: 'numeric' };

/// "15:04".
export function formatTime(value) {
  const date = moment(value);
  return date ? formatter(TIME).format(date) : '';
}

/// "ср, 02.12.2026" ("Wed, 02/12/2026").
export function formatDate(value) {
  const date = moment(value);
  return date ? formatter(DATE).format(date) : '';
}

/// "ср, 02.12.2026, 15:04" ("Wed, 02/12/2026, 15:04"): the audit log, the record.
export function formatDateTime(value) {
  const date = moment(value);
  return date ? formatter({ ...DATE, ...TIME }).format(date) : '';
}

/// "ср, 2 декабря, 15:00" ("Wed 2 December, 15:00"): a moment to come, said in words.
export function formatMoment(value) {
  const date = moment(value);
  // The day and the time apart: joined by ICU they read "4 декабря в 15:00" in one version
  // and "4 декабря, 15:00" in another.
  return date ? `${formatter({ weekday: 'short', day: 'numeric', month: 'long' }).format(date)}, ${formatTime(date)}` : (value ?? '');
}

/// The school's calendar day of a moment, `2026-12-02`, to tell today from other days.
function schoolDay(date) {
  const parts = Object.fromEntries(formatter({ year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/// The school's calendar day now, `2026-12-02`: the day a booking list or a week of slots
/// starts from.
export function schoolToday() {
  return schoolDay(new Date());
}

/// The calendar day `n` days after `iso` (`2026-12-02`), whatever the zone: days are counted,
/// not hours, so a change of daylight saving time moves nothing.
export function addDays(iso, n) {
  const [year, month, day] = iso.split('-').map(Number);
  return new Date(Date.UTC(year, month - 1, day + n)).toISOString().slice(0, 10);
}

/// "ср, 9 декабря" ("Wed 9 December"): a calendar day (`2026-12-09`) or a moment's day in the
/// school's zone, as headings of a list of slots or bookings say it.
export function formatDay(value) {
  const words = { weekday: 'short', day: 'numeric', month: 'long' };
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value ?? '');
  if (m) {
    // A day of the calendar has no zone: noon UTC names it in UTC.
    const noon = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12));
    return new Intl.DateTimeFormat(languageTag(), { ...words, timeZone: 'UTC' }).format(noon);
  }
  const date = moment(value);
  return date ? formatter(words).format(date) : '';
}

/// "15:20–15:40": a slot or a booking from its start to its end, on the school's clock.
export function formatSpan(start, end) {
  return `${formatTime(start)}–${formatTime(end)}`;
}

/// "ср, 9 декабря, 15:20–15:40": when a slot or a booking (`{start, end}`) is.
export function formatWhen({ start, end }) {
  return `${formatDay(start)}, ${formatSpan(start, end)}`;
}

/// A chat message's time: "15:04" today, "пн, 30.11, 15:04" on another day of the year,
/// with the year further back.
export function formatMessageTime(value, now = new Date()) {
  const date = moment(value);
  if (!date) return '';
  if (schoolDay(date) === schoolDay(now)) return formatTime(date);
  const sameYear = schoolDay(date).slice(0, 4) === schoolDay(now).slice(0, 4);
  return formatter(sameYear ? { weekday: 'short', day: '2-digit', month: '2-digit', ...TIME } : { ...DATE, ...TIME }).format(date);
}

/// The name of ISO weekday `n` (1 = Monday .. 7 = Sunday): "пн" / "Mon", or with `long`
/// "понедельник" / "Monday". Weekdays of consultation hours are the school's, so no zone applies.
export function weekdayName(n, width = 'short') {
  // 2024-01-01 was a Monday.
  const day = new Date(Date.UTC(2024, 0, n));
  return new Intl.DateTimeFormat(languageTag(), { weekday: width, timeZone: 'UTC' }).format(day);
}

/// The order a typed date is read in: "дд.мм.гггг" in Russian, "dd/mm/yyyy" in English.
function datePattern() {
  return currentLang() === 'en' ? { separator: '/', hint: 'dd/mm/yyyy' } : { separator: '.', hint: 'дд.мм.гггг' };
}

/// `2026-09-01` from what a person typed: `01.09.2026`, `1/9/2026` or `2026-09-01`; null when
/// it is no date of the calendar.
export function parseDate(text) {
  const value = text.trim();
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value);
  let year;
  let month;
  let day;
  if (m) {
    [year, month, day] = m.slice(1).map(Number);
  } else {
    m = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/.exec(value);
    if (!m) return null;
    [day, month, year] = m.slice(1).map(Number);
  }
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/// `2026-09-01` as the page's language writes it: `01.09.2026` or `01/09/2026`.
export function showDate(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso ?? '');
  if (!m) return '';
  return [m[3], m[2], m[1]].join(datePattern().separator);
}

/// The date fields made by `dateField`, redrawn when the language changes.
const dateFields = new Set();

/// Turns a `<input type="date" name="from">` into a field typed in the page's order
/// (`01.09.2026`), whatever order the browser's own date picker would use: the visible field
/// keeps the id and label; a hidden input keeps the name and holds `2026-09-01`, which is what
/// forms send. A date that is no date is refused with a message before the form is sent.
export function dateField(input) {
  const hidden = h('input', { type: 'hidden', name: input.name, value: input.value });
  input.removeAttribute('name');
  input.type = 'text';
  input.inputMode = 'numeric';
  input.autocomplete = 'off';
  input.maxLength = 10;
  input.classList.add('date-field');
  input.after(hidden);
  const sync = () => {
    const text = input.value.trim();
    const iso = text ? parseDate(text) : '';
    hidden.value = iso ?? '';
    input.setCustomValidity(iso === null ? t('date.invalid', { hint: datePattern().hint }) : '');
  };
  input.addEventListener('input', sync);
  input.addEventListener('change', () => {
    sync();
    if (hidden.value) input.value = showDate(hidden.value);
  });
  input.form?.addEventListener('reset', () => setTimeout(() => { hidden.value = ''; sync(); }));
  const field = { input, hidden, sync };
  dateFields.add(field);
  relabel(field);
  return hidden;
}

function relabel({ input, hidden, sync }) {
  input.placeholder = datePattern().hint;
  input.title = datePattern().hint;
  if (hidden.value) input.value = showDate(hidden.value);
  sync();
}

/// Redraws the date fields in the language just chosen.
export function relabelDateFields() {
  for (const field of dateFields) relabel(field);
}

/// A time of day typed as `HH:MM`, 24-hour, whatever the browser's own time picker would show
/// (a browser in English would ask for AM and PM).
export function timeInput(attrs) {
  return h('input', {
    ...attrs,
    type: 'text',
    inputmode: 'numeric',
    autocomplete: 'off',
    maxlength: 5,
    pattern: '([01][0-9]|2[0-3]):[0-5][0-9]',
    placeholder: currentLang() === 'en' ? 'hh:mm' : 'чч:мм',
    title: currentLang() === 'en' ? 'hh:mm, 24-hour' : 'чч:мм, 24 часа',
  });
}
