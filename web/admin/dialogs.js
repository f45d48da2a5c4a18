//! The two modal dialogs of the admin page: a yes/no question, and a password shown once.

import { t } from '../i18n.js';
import { $, say } from './page.js';

/// Asks a yes/no question in a modal dialog; resolves to true for yes.
export function confirmAction(text) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  $('#confirm-no').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
  });
}

/// Shows a password once, in a modal dialog; resolves when it is closed and the password gone.
export function showSecret(login, password) {
  const dialog = $('#secret');
  $('#secret-who').textContent = t('admin.password_for', { login });
  $('#secret-value').textContent = password;
  dialog.showModal();
  $('#secret-close').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      $('#secret-value').textContent = '';
      resolve();
    }, { once: true });
  });
}

async function copySecret() {
  try {
    await navigator.clipboard.writeText($('#secret-value').textContent);
    say(t('admin.copied'));
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('#secret-value'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
}

export function wire() {
  $('#secret-copy').addEventListener('click', copySecret);
}
