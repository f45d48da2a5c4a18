//! Konsult's administration page: sign-in for admins, the language, and which screen shows.
//! Each screen is a module of admin/ with `render` (draws it from the HTTP API) and `wire`
//! (its controls); words come from the client's shared i18n.js, elements from dom.js.

import { addStrings, currentLang, setLang, t } from './i18n.js';
import { ADMIN_STRINGS } from './admin/words.js';
import { dateField, loadSchoolZone, relabelDateFields } from './locale.js';
import { api, failure, forget, logout, remember, signedIn, whenExpired } from './admin/api.js';
import { fillSelects, loadDirectories } from './admin/directories.js';
import { $, draw } from './admin/page.js';
import { currentSchool, listSchools, rememberSchool, schoolFromPath } from './school.js';
import * as dialogs from './admin/dialogs.js';
import * as importing from './admin/import.js';
import * as users from './admin/users.js';
import * as classes from './admin/classes.js';
import * as record from './admin/record.js';
import * as summary from './admin/summary.js';
import * as links from './admin/links.js';
import * as audit from './admin/audit.js';

addStrings(ADMIN_STRINGS);

/// The screens by the name in the address (`/admin#record`) and the navigation.
const SCREENS = { users, classes, record, summary, links, audit };

/// The screen shown, or `login`.
let current = null;

function applyLanguage() {
  document.documentElement.lang = currentLang();
  document.title = `Konsult — ${t('admin.title')}`;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) {
    node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  }
  const switcher = $('#lang');
  switcher.textContent = t('lang.switch');
  switcher.lang = currentLang() === 'ru' ? 'en' : 'ru';
  fillSelects();
  relabelDateFields();
}

function switchLanguage() {
  setLang(currentLang() === 'ru' ? 'en' : 'ru');
  applyLanguage();
  if (SCREENS[current]) draw(SCREENS[current].render);
}

function showOnly(view) {
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  current = view;
}

function signOut(message) {
  forget();
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  showOnly('login');
  $('#login-error').textContent = message ?? '';
  $('#login-login').focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const error = $('#login-error');
  error.textContent = '';
  const body = { login: form.elements.login.value.trim(), password: form.elements.password.value };
  // The school chosen in the form, else the one the address names or chosen before.
  const select = form.elements.school;
  const school = select.hidden ? currentSchool() : select.value;
  if (school) body.school = school;
  let answer;
  try {
    answer = await api('POST', '/api/login', body);
  } catch (e) {
    error.textContent = e.code === 'unauthorized' ? t('admin.wrong_password') : failure(e);
    return;
  }
  form.elements.password.value = '';
  if (answer.user.role !== 'admin') {
    error.textContent = t('admin.not_admin', { name: answer.user.name });
    return;
  }
  remember(answer.token, answer.user.login);
  rememberSchool(school);
  await enter();
}

/// Opens the screens once a token is known; a token that no longer works leads back to sign-in.
async function enter() {
  try {
    await Promise.all([loadDirectories(), loadSchoolZone()]);
  } catch (e) {
    if (e.status !== 401) signOut(failure(e));
    return;
  }
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  const wanted = location.hash.slice(1);
  const view = SCREENS[wanted] ? wanted : 'users';
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  await open(view);
}

async function open(view) {
  showOnly(view);
  $('#status').textContent = '';
  $(`#view-${view} h1`).focus();
  await draw(SCREENS[view].render);
}

/// Shows the school select of the sign-in form when the server has several schools and the
/// address names none; the last choice is preselected.
async function offerSchools() {
  if (schoolFromPath()) return;
  const schools = await listSchools();
  if (schools.length < 2) return;
  const select = $('#login-school');
  const remembered = currentSchool();
  select.replaceChildren(new Option(t('login.school.choose'), ''),
    ...schools.map((s) => new Option(s.name, s.code, false, s.code === remembered)));
  select.required = true;
  select.hidden = false;
  $('label[for=login-school]').hidden = false;
}

function wire() {
  // Dates are typed in the page's order (01.09.2026), not the browser's.
  for (const input of document.querySelectorAll('input[type=date]')) dateField(input);
  $('#lang').addEventListener('click', switchLanguage);
  $('#logout').addEventListener('click', () => {
    logout();
    signOut();
  });
  $('#login-form').addEventListener('submit', signIn);
  for (const screen of [dialogs, importing, ...Object.values(SCREENS)]) screen.wire();
  whenExpired(signOut);
  window.addEventListener('hashchange', () => {
    const view = location.hash.slice(1);
    if (signedIn() && SCREENS[view]) open(view);
  });
}

wire();
applyLanguage();
offerSchools();
if (signedIn()) {
  enter();
} else {
  signOut();
}
