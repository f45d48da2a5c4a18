//! The users screen: the search, a row per account with its password reset and deactivation
//! (or activation), and adding one account.

import { h } from '../dom.js';
import { subjectName, t } from '../i18n.js';
import { api, failure, ownLogin } from './api.js';
import { confirmAction, showSecret } from './dialogs.js';
import { loadDirectories, roleName } from './directories.js';
import { $, draw, labelCells, say } from './page.js';

export async function render() {
  const form = $('#users-search');
  const query = new URLSearchParams();
  for (const name of ['q', 'role', 'class', 'active']) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  const { users } = await api('GET', `/api/admin/users?${query}`);
  $('#users-count').textContent = users.length ? t('admin.users_found', { n: users.length }) : t('admin.nobody');
  $('#users-table tbody').replaceChildren(...users.map(userRow));
  labelCells($('#users-table'));
}

function userRow(user) {
  const toggle = user.login === ownLogin() ? null : user.active
    ? h('button', { type: 'button', class: 'danger', 'aria-label': t('admin.deactivate_for', { login: user.login }), onclick: () => toggleActive(user) }, t('admin.deactivate'))
    : h('button', { type: 'button', 'aria-label': t('admin.activate_for', { login: user.login }), onclick: () => toggleActive(user) }, t('admin.activate'));
  return h('tr', { 'data-login': user.login, class: user.active ? null : 'inactive' },
    h('td', {}, h('code', {}, user.login)),
    h('td', {}, user.name),
    h('td', {}, roleName(user.role)),
    h('td', {}, user.class ?? ''),
    h('td', {}, user.subjects.map(subjectName).join(', ')),
    h('td', {}, user.active ? t('admin.active') : t('admin.inactive')),
    h('td', {}, h('div', { class: 'row-actions' },
      h('button', { type: 'button', 'aria-label': t('admin.reset_for', { login: user.login }), onclick: () => resetPassword(user) }, t('admin.reset_password')),
      toggle)));
}

async function resetPassword(user) {
  if (!await confirmAction(t('admin.confirm_reset', { login: user.login }))) return;
  try {
    const answer = await api('POST', `/api/admin/users/${user.id}/password`);
    await showSecret(answer.login, answer.password);
  } catch (e) {
    say(failure(e));
  }
}

async function toggleActive(user) {
  const activate = !user.active;
  const question = activate ? 'admin.confirm_activate' : 'admin.confirm_deactivate';
  if (!await confirmAction(t(question, { login: user.login }))) return;
  try {
    await api('POST', `/api/admin/users/${user.id}/${activate ? 'activate' : 'deactivate'}`);
    say(t(activate ? 'admin.activated' : 'admin.deactivated', { login: user.login }));
    await render();
    $(`#users-table tr[data-login="${CSS.escape(user.login)}"] .row-actions button:last-child`)?.focus();
  } catch (e) {
    say(failure(e));
  }
}

async function addUser(event) {
  event.preventDefault();
  const form = event.target;
  const error = $('#add-user-error');
  error.textContent = '';
  const body = {
    login: form.elements.login.value.trim(),
    name: form.elements.name.value.trim(),
    role: form.elements.role.value,
    class: form.elements.class.value.trim() || null,
    subjects: form.elements.subjects.value.split(/[\s,;]+/).filter(Boolean),
    password: form.elements.password.value || null,
  };
  try {
    const answer = await api('POST', '/api/admin/users', body);
    form.reset();
    if (answer.password) {
      say(t('admin.created_with_password', { login: answer.user.login }));
      await showSecret(answer.user.login, answer.password);
    } else {
      say(t('admin.created', { login: answer.user.login }));
    }
    await loadDirectories();
    await render();
  } catch (e) {
    error.textContent = failure(e);
  }
}

export function wire() {
  $('#users-search').addEventListener('submit', (e) => { e.preventDefault(); draw(render); });
  $('#add-user-form').addEventListener('submit', addUser);
}
